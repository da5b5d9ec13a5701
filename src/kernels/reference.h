// Scalar reference versions of the kernels that have SIMD variants (see ops.h for semantics). They
// define the semantics (double accumulation where it matters) and are what the tests compare every
// SIMD variant against; the dispatcher also uses them when Isa::kScalar is active.
#pragma once

#include "kernels/ops.h"

namespace dsvl::kernels::ref {

void Linear(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
            const TensorView* bias, float* y, int64_t ldx, int64_t ldy);
// x quantised as the SIMD GEMV over quantised weights does (simd::kQuantGemvMaxM): per block of 32,
// d = max|x| / 127, q = round_half_even(x · (127 / max|x|)), out = d · q. n a multiple of 32.
void RoundTripQ8Activations(const float* x, int64_t n, float* out);
// Linear on those quantised activations: the definition of the quantised-weight GEMV's result.
void LinearQ8Act(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
                 const TensorView* bias, float* y, int64_t ldx, int64_t ldy);
void GemmNT(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta);
void Attention(ThreadPool& pool, const AttentionArgs& a);

void RmsNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
             float eps, float* y);
void LayerNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
               const TensorView& bias, float eps, float* y);
void SoftmaxRow(float* x, int64_t n);
void GeluErf(ThreadPool& pool, float* x, int64_t n);
void GeluTanh(ThreadPool& pool, float* x, int64_t n);
void Silu(ThreadPool& pool, float* x, int64_t n);
void SwiGlu(ThreadPool& pool, float* gate, const float* up, int64_t n);
void Add(ThreadPool& pool, float* y, const float* x, int64_t n);
// Direct (loop) convolution; the public Conv2d lowers to im2col + Linear.
void Conv2d(ThreadPool& pool, const float* in, const Conv2dArgs& a, const TensorView& w,
            const TensorView* bias, float* out);

}  // namespace dsvl::kernels::ref
