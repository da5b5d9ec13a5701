// The AVX-512 and AVX512-BF16 kernel variants compiled from their own sources (vec_avx512.h,
// dot_avx512bf16.h and the generic *_impl.h kernels) with every AVX-512 intrinsic supplied by
// SIMDe's portable implementation instead of the CPU. This TU is built with the AVX2 flags only, so
// the tests can run the exact AVX-512 code paths (lane counts, blocking, tails, bf16 dot) on CPUs
// without AVX-512. An intrinsic SIMDe lacks fails to compile here (GCC refuses to inline the
// native one), so nothing can silently execute a real AVX-512 instruction.
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <cstring>

#include "core/tensor.h"

// Intrinsics the kernels use that SIMDe 0.7.4 does not provide, built from AVX2 instructions or
// scalar code with the same per-lane definition (zero-extend, f16 widen, round-to-nearest-even
// convert, int32 -> f32 convert; f32 -> bf16 round to nearest even). SIMDe does provide the VNNI
// vpdpbusd (_mm256/_mm512_dpbusd_epi32) used by the quantised kernels.
namespace dsvl::kernels::simd::emulated {

inline simde__m512i Join(__m256i lo, __m256i hi) {
  alignas(64) int32_t v[16];
  std::memcpy(v, &lo, 32);
  std::memcpy(v + 8, &hi, 32);
  return simde_mm512_load_si512(v);
}
inline simde__m512 JoinPs(__m256 lo, __m256 hi) {
  alignas(64) float v[16];
  std::memcpy(v, &lo, 32);
  std::memcpy(v + 8, &hi, 32);
  return simde_mm512_load_ps(v);
}
inline simde__m512i CvtEpu16Epi32(__m256i a) {
  return Join(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(a)), _mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1)));
}
inline simde__m512 CvtPhPs(__m256i a) {
  return JoinPs(_mm256_cvtph_ps(_mm256_castsi256_si128(a)), _mm256_cvtph_ps(_mm256_extracti128_si256(a, 1)));
}
inline simde__m512i CvtPsEpi32(simde__m512 a) {
  alignas(64) float v[16];
  simde_mm512_store_ps(v, a);
  return Join(_mm256_cvtps_epi32(_mm256_load_ps(v)), _mm256_cvtps_epi32(_mm256_load_ps(v + 8)));
}
inline simde__m512 CvtEpi32Ps(simde__m512i a) {
  alignas(64) int32_t v[16];
  simde_mm512_store_si512(v, a);
  const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(v));
  const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(v + 8));
  return JoinPs(_mm256_cvtepi32_ps(lo), _mm256_cvtepi32_ps(hi));
}

// _mm512_cvtne2ps_pbh(a, b): bf16 of b in lanes 0-15, of a in lanes 16-31.
inline simde__m512bh CvtNe2PsPbh(simde__m512 a, simde__m512 b) {
  alignas(64) float f[32];
  simde_mm512_store_ps(f, b);
  simde_mm512_store_ps(f + 16, a);
  alignas(64) uint16_t h[32];
  for (int i = 0; i < 32; ++i) h[i] = F32ToBf16(f[i]);
  simde__m512bh r;
  std::memcpy(&r, h, 64);
  return r;
}

}  // namespace dsvl::kernels::simd::emulated

#define _mm512_cvtne2ps_pbh(a, b) ::dsvl::kernels::simd::emulated::CvtNe2PsPbh(a, b)
#define _mm512_cvtepu16_epi32(a) ::dsvl::kernels::simd::emulated::CvtEpu16Epi32(a)
#define _mm512_cvtph_ps(a) ::dsvl::kernels::simd::emulated::CvtPhPs(a)
#define _mm512_cvtps_epi32(a) ::dsvl::kernels::simd::emulated::CvtPsEpi32(a)
#define _mm512_cvtepi32_ps(a) ::dsvl::kernels::simd::emulated::CvtEpi32Ps(a)

#include "emulated_variants.h"
#include "kernels/attention_impl.h"
#include "kernels/dot_avx512bf16.h"
#include "kernels/gemm_bf16dot_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemm_quant_vnni_impl.h"
#include "kernels/gemv_quant_impl.h"
#include "kernels/gemv_quant_x8_impl.h"
#include "kernels/int8_dot.h"
#include "kernels/gemv_bf16dot_impl.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {
namespace {

// Quantised weights as in kernels_avx512.cpp / kernels_avx512bf16.cpp (vpdpbusd from SIMDe).
void GemmEmulatedAvx512(ThreadPool& pool, const GemmArgs& g) {
  if (IsQuantized(g.B.dtype)) return QuantGemmEntry<I8DotAvx2, VecAvx512>(pool, g);
  if (IsInterleavedQuant(g.B.dtype)) return InterleavedGemmEntry<VecAvx512>(pool, g);  // maddubs steps, no VNNI
  GemmImpl<VecAvx512>::Run(pool, g);
}
void GemmEmulatedAvx512Bf16(ThreadPool& pool, const GemmArgs& g) {
  if (IsQuantized(g.B.dtype)) return QuantGemmEntry<I8DotVnni, VecAvx512, QuantGemmVnni>(pool, g);
  if (IsInterleavedQuant(g.B.dtype)) return InterleavedGemmEntry<VecAvx512, true>(pool, g);
  Bf16DotGemmEntry<DotAvx512Bf16, VecAvx512>(pool, g);
}
void AttentionEmulatedAvx512(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx512>::Run(pool, a); }

}  // namespace

const Variant& EmulatedAvx512Variant() {
  static const Variant v{&GemmEmulatedAvx512, &AttentionEmulatedAvx512, RowImpl<VecAvx512>::Table(), true};
  return v;
}

const Variant& EmulatedAvx512Bf16Variant() {
  static const Variant v{&GemmEmulatedAvx512Bf16, &AttentionEmulatedAvx512, RowImpl<VecAvx512>::Table(), true};
  return v;
}

}  // namespace dsvl::kernels::simd
