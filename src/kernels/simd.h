// Internal interface between the dispatcher and the per-ISA kernel translation units
// (kernels_avx2.cpp, kernels_avx512.cpp, kernels_avx512bf16.cpp). Call a variant only after
// IsaSupported() said yes. Arguments are already validated by the dispatcher.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"

namespace dsvl::kernels::simd {

// The B operand of C = alpha·A·op(B): rows of B are `ld` elements apart.
//   kn == false: B is [N, K] (nn.Linear weight, keys): C = A·Bᵀ.
//   kn == true:  B is [K, N] (values: f32, or a bf16/f16 KV cache): C = A·B.
struct MatB {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t ld = 0;
  bool kn = false;
};

// C[M,N] (row stride ldc) = alpha·A·op(B) + beta·C + bias.  A is f32 [M,K] with row stride lda;
// bias is f32 [N] or null; beta == 0 never reads C.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr; int64_t lda = 0;
  MatB B;
  float* C = nullptr; int64_t ldc = 0;
  const float* bias = nullptr;
  float alpha = 1.0f, beta = 0.0f;
  bool bf16_activations = false;  // Bf16ActivationsEnabled() (isa.h); honoured by the AVX512-BF16 variant
};

// Row-op kernels (f32, contiguous); weight/bias already widened to f32 (bias may be null).
struct RowOps {
  void (*gelu_erf)(float* x, int64_t n);
  void (*gelu_tanh)(float* x, int64_t n);
  void (*silu)(float* x, int64_t n);
  void (*swiglu)(float* gate, const float* up, int64_t n);
  void (*add)(float* y, const float* x, int64_t n);
  void (*softmax)(float* x, int64_t n);
  void (*rms_norm_row)(const float* x, int64_t n, const float* w, float eps, float* y);
  void (*layer_norm_row)(const float* x, int64_t n, const float* w, const float* b, float eps,
                         float* y);
};

// Linear over quantised weights (Q8_0, Q4_0, Q4_K) with at most this many activation rows (decode)
// runs the integer-dot GEMV (gemv_quant_impl.h), which quantises the activations to 8 bits per block
// of 32 (ref::LinearQ8Act defines the result). More rows: where AVX512-VNNI is used (the AVX512-BF16
// variant; the AVX-512 one on VNNI CPUs) the integer GEMM with the same activation quantisation,
// else a GEMM that dequantises weight panels and keeps f32 activations (ref::Linear).
constexpr int64_t kQuantGemvMaxM = 8;
// Whether a call over quantised weights (either layout) takes the GEMV rather than a GEMM.
inline bool QuantGemvShaped(const GemmArgs& g) {
  return g.M > 0 && g.N > 0 && g.K > 0 && g.M <= kQuantGemvMaxM && !g.B.kn && g.B.ld == g.K;
}

struct Variant {
  void (*gemm)(ThreadPool& pool, const GemmArgs& g);
  void (*attention)(ThreadPool& pool, const AttentionArgs& a);
  RowOps rows;
  // Whether gemm takes the interleaved quantised types (DType kQ8_0x8, ...) with their own GEMV
  // kernels, and whether the engine repacks to them by default: only where they were measured faster
  // than the plain rows (the AVX2 variant so far; the AVX-512 ones only with DSVL_INTERLEAVE=1).
  bool interleaved_quant = false;
  bool interleave_by_default = false;
};

// Linear over quantised weights with AVX512-VNNI dot products (quant_vnni_avx512.cpp), shared by
// the AVX-512 variant (where CPUID shows VNNI) and the AVX512-BF16 variant (whose CPUs all have it).
void QuantGemmAvx512Vnni(ThreadPool& pool, const GemmArgs& g);
// Linear over the interleaved types with the vpdpbusd GEMV (gemv_quant_x8_impl.h), same file and CPUs.
void InterleavedGemmAvx512Vnni(ThreadPool& pool, const GemmArgs& g);
// The AVX2 variant's quantised GEMV with AVX-VNNI (quant_avxvnni_avx2.cpp), where CpuHasAvxVnni().
bool CpuHasAvxVnni();
void QuantGemmAvxVnni(ThreadPool& pool, const GemmArgs& g);

const Variant& Avx2Variant();
const Variant& Avx512Variant();
const Variant& Avx512Bf16Variant();
// Test hook: when non-null, the dispatcher uses `v` instead of the active ISA's variant.
void SetVariantOverrideForTesting(const Variant* v);

}  // namespace dsvl::kernels::simd
