// The compute kernels every model is built from. Activations are f32; weights may be f32, bf16 or
// f16 TensorViews straight from the mmapped checkpoint (widened inside the kernel, never copied).
// Each op has a scalar reference (ops_reference.cpp) and the dispatcher picks the best SIMD
// implementation for this CPU at run time (dispatch.cpp, isa.h; DSVL_ISA overrides); tests compare
// every variant against the reference. Kernels that take a pool run their own parallel regions on
// it, so they must not be called from inside a task of that same pool (ThreadPool::Run is not
// reentrant). The SIMD paths keep their scratch in per-thread buffers (scratch.h) and allocate
// nothing per call once those have grown.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace dsvl::kernels {

// y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]).  w in PyTorch nn.Linear layout. x rows are `ldx` floats apart
// and y rows `ldy` floats apart (0 = packed), so column slices of wider buffers can be used in place.
// Quantised w (Q8_0, Q4_0, Q4_K; K a multiple of the block): on the SIMD variants, calls with M <=
// simd::kQuantGemvMaxM (decode), and all calls where AVX512-VNNI is used, quantise x to 8 bits per
// block of 32 and use integer dot products (result as ref::LinearQ8Act); the other calls (larger M
// on CPUs without VNNI, the scalar variant) keep x in f32 (as ref::Linear). See simd.h.
// Interleaved quantised w (Q8_0x8, ...; N a multiple of 8): the same results as the plain type up
// to f32 summation order; a variant without kernels for them computes as ref::Linear.
void Linear(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
            const TensorView* bias, float* y, int64_t ldx = 0, int64_t ldy = 0);
// The type a plain quantised weight (Q8_0, Q4_0, Q4_K) with `rows` rows should be repacked to for
// this CPU's kernels (InterleavedQuantType(t)), or t itself: where rows is not a multiple of 8, the
// active variant has no interleaved kernels, or repacking is not its default (the AVX-512 variants,
// untimed so far) unless DSVL_INTERLEAVE=1; DSVL_INTERLEAVE=0 never repacks (docs/quantization.md).
DType DecodeLayout(DType t, int64_t rows);
// Whether the active variant has GEMV kernels for the interleaved types (else Linear computes them as
// ref::Linear does).
bool HasInterleavedKernels();
// Calls with M <= kRowInvariantMaxM give every row bitwise what a one-row call on that row gives
// (every variant and weight type: the decode GEMVs do the same arithmetic per output whatever M),
// so rows of different sequences can share a call (batched decoding). Larger M (the blocked GEMM)
// sums in another order.
constexpr int64_t kRowInvariantMaxM = 4;

// Plain f32 GEMM with strides: C[M,N] = alpha · A[M,K] · B[N,K]ᵀ (+ beta·C).
void GemmNT(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha = 1.0f, float beta = 0.0f);

// Widens element range [begin, begin+n) of w (flattened) to f32.
void ToF32(const TensorView& w, int64_t begin, int64_t n, float* out);

// Row-wise normalisations over the last dim of x[rows, cols]; y may alias x. weight/bias may be any
// float dtype.
void RmsNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
             float eps, float* y);
void LayerNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
               const TensorView& bias, float eps, float* y);

void SoftmaxRow(float* x, int64_t n);  // in place, max-subtracted
void GeluErf(ThreadPool& pool, float* x, int64_t n);
void GeluTanh(ThreadPool& pool, float* x, int64_t n);
void Silu(ThreadPool& pool, float* x, int64_t n);
// gate[i] = silu(gate[i]) * up[i] for rows of a [rows, n] pair with row strides.
void SwiGlu(ThreadPool& pool, float* gate, const float* up, int64_t n);
void Add(ThreadPool& pool, float* y, const float* x, int64_t n);  // y += x

// RoPE tables for positions: cos/sin [num_pos, dim/2] with angle pos * theta^(-2i/dim), computed in
// f32 from f32 positions (the official torch_dtype=bfloat16 loading path).
struct RopeTable {
  int64_t half_dim = 0;
  const float* cos = nullptr;  // [positions, half_dim]
  const float* sin = nullptr;
};
void FillRopeTable(const int64_t* positions, int64_t n, int64_t dim, float theta, float* cos_out,
                   float* sin_out);
// x[T, H, D] with row stride `ld` per token (>= H*D) and head stride `head_stride`; rotates the first
// `dim` values of each head. RotateHalf: pairs (i, i+dim/2) (Llama). Interleaved: pairs (2i, 2i+1)
// (GPT-J; equals DeepSeek-V2's de-interleave + rotate_half up to a fixed permutation of q and k).
enum class RopeStyle { kRotateHalf, kInterleaved };
void ApplyRope(float* x, int64_t T, int64_t H, int64_t head_stride, int64_t ld, int64_t dim,
               const float* cos, const float* sin, RopeStyle style);

// Scaled dot-product attention for one sequence.
//   q [Tq, Hq, Dk] (token stride ldq), k [Tk, Hkv, Dk] (ldk), v [Tk, Hkv, Dv] (ldv), out [Tq, Hq, Dv] (ldo)
//   Head h uses kv head h / (Hq/Hkv). With causal, query i sees keys j <= i + (Tk - Tq).
//   k and v hold kv_dtype elements (f32, or bf16 / f16 for a half-size KV cache: widened to f32 in
//   registers as they are read, so a decode step streams half the bytes); strides are in elements.
struct AttentionArgs {
  const float* q; int64_t ldq;
  const void* k; int64_t ldk;
  const void* v; int64_t ldv;
  float* out; int64_t ldo;
  int64_t Tq, Tk, Hq, Hkv, Dk, Dv;
  float scale;
  bool causal;
  DType kv_dtype = DType::kF32;
};
void Attention(ThreadPool& pool, const AttentionArgs& a);

// 2-D convolution, NCHW, single image: in [C, H, W], w [O, C, kh, kw] (any float dtype), bias [O] or
// null, out [O, Ho, Wo].
struct Conv2dArgs {
  int64_t C, H, W, O, kh, kw, stride, pad;
};
void Conv2d(ThreadPool& pool, const float* in, const Conv2dArgs& a, const TensorView& w,
            const TensorView* bias, float* out);
inline int64_t ConvOutSize(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// Bilinear resize of planar [C, H, W] to [C, Ho, Wo] with align_corners=False (PyTorch
// F.interpolate). antialias=true widens the triangle filter on downscale (torchvision's
// antialiased tensor resize); without it this is the classic 4-tap bilinear.
void ResizeBilinear(ThreadPool& pool, const float* in, int64_t C, int64_t H, int64_t W, float* out,
                    int64_t Ho, int64_t Wo, bool antialias);

}  // namespace dsvl::kernels
