// Scalar reference versions of the kernels that have SIMD variants (see ops.h for semantics).
#pragma once

#include "kernels/ops.h"

namespace dsvl::kernels::ref {

void Linear(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
            const TensorView* bias, float* y, int64_t ldx, int64_t ldy);
void GemmNT(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta);
void Attention(ThreadPool& pool, const AttentionArgs& a);

}  // namespace dsvl::kernels::ref
