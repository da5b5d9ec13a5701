// Forward pieces that keep what their backward needs, and the backward passes of the operations the
// decoders and adaptors are built from. All f32, row-major; `T` rows of width `n`. Products run on
// the inference kernels (kernels::GemmNT, kernels::Linear) and the shared thread pool. Gradients *accumulate* (+=) into
// parameter and input gradients unless a function says it writes, so several uses of a tensor add up.
// Each op has a finite-difference test (tests/train/grad_ops_test.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace dsvl::train {

// y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias). Writes y. w may be f32, bf16 or f16 (a frozen checkpoint
// tensor read in place; products use f32 activations whatever DSVL_BF16_ACTIVATIONS says) or
// quantised (forward only).
void LinearForward(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w, int64_t N,
                   const float* bias, float* y);
// Given dy[M,N]: dx[M,K] += dy · w (when dx), dw[N,K] += dyᵀ · x (when dw), dbias[N] += Σ dy.
// w: f32, bf16 or f16. dx is computed a bounded panel of w's columns at a time (at most 16 MB of f32
// scratch, whatever w's size: lm_head is 0.4-0.8 GB as f32).
void LinearBackward(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w, int64_t N,
                    const float* dy, float* dx, float* dw, float* dbias);
// The same for a plain f32 w[N, K].
inline void LinearForward(ThreadPool& pool, const float* x, int64_t M, int64_t K, const float* w, int64_t N,
                          const float* bias, float* y) {
  LinearForward(pool, x, M, K, TensorView(DType::kF32, Shape{N, K}, w), N, bias, y);
}
inline void LinearBackward(ThreadPool& pool, const float* x, int64_t M, int64_t K, const float* w, int64_t N,
                           const float* dy, float* dx, float* dw, float* dbias) {
  LinearBackward(pool, x, M, K, TensorView(DType::kF32, Shape{N, K}, w), N, dy, dx, dw, dbias);
}

// Llama RMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps). Forward writes y and rstd[T].
void RmsNormForward(const float* x, int64_t T, int64_t n, const float* w, float eps, float* y,
                    float* rstd);
void RmsNormBackward(const float* x, int64_t T, int64_t n, const float* w, const float* rstd,
                     const float* dy, float* dx, float* dw);

// LayerNorm with affine weight and bias (biased variance, as torch). Forward writes y, mean, rstd.
void LayerNormForward(const float* x, int64_t T, int64_t n, const float* w, const float* b, float eps,
                      float* y, float* mean, float* rstd);
void LayerNormBackward(const float* x, int64_t T, int64_t n, const float* w, const float* mean,
                       const float* rstd, const float* dy, float* dx, float* dw, float* db);

// GELU (erf form, torch nn.GELU()) of x into y; backward: dx += dy · gelu'(x).
void GeluErfForward(const float* x, int64_t n, float* y);
void GeluErfBackward(const float* x, int64_t n, const float* dy, float* dx);
// GELU, tanh approximation (torch approximate="tanh").
void GeluTanhForward(const float* x, int64_t n, float* y);
void GeluTanhBackward(const float* x, int64_t n, const float* dy, float* dx);

// SwiGLU: s = silu(g) ⊙ u. Backward writes dg and du (not accumulated).
void SwiGluForward(const float* g, const float* u, int64_t n, float* s);
void SwiGluBackward(const float* g, const float* u, int64_t n, const float* ds, float* dg, float* du);

// Rotate-half RoPE on x[T, H, D] (heads contiguous, token stride H*D) rotating the first `dim` of each
// head with cos/sin[T, dim/2]. inverse=true rotates by the negative angle: the backward of a rotation
// is its inverse (it is orthogonal), so the same call maps dy to dx.
void RopeRotateHalf(float* x, int64_t T, int64_t H, int64_t D, int64_t dim, const float* cos,
                    const float* sin, bool inverse);

// Softmax attention for one sequence, q[T,Hq,D], k/v[T,Hkv,D] (token strides Hq*D and Hkv*D), out
// [T,Hq,D]; query head h uses kv head h/(Hq/Hkv). causal: query i sees keys j <= i. Forward writes out
// and lse[Hq,T] (the log-sum-exp of each score row), from which the backward recomputes the
// probabilities (no T×T matrix is kept). Backward accumulates dq, dk, dv.
struct AttentionShape {
  int64_t T, Hq, Hkv, D;
  float scale;
  bool causal;
};
void AttentionForward(ThreadPool& pool, const AttentionShape& s, const float* q, const float* k,
                      const float* v, float* out, float* lse);
void AttentionBackward(ThreadPool& pool, const AttentionShape& s, const float* q, const float* k,
                       const float* v, const float* out, const float* lse, const float* dout,
                       float* dq, float* dk, float* dv);

// Cross-entropy of logits rows z[R, V] against targets[R]: returns Σ_r (logsumexp(z_r) - z_r[y_r]) in
// double and writes dz = scale · (softmax(z_r) - onehot(y_r)).
double CrossEntropy(const float* z, int64_t R, int64_t V, const int64_t* targets, float scale,
                    float* dz);

}  // namespace dsvl::train
