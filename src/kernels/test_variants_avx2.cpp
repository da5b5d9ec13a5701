// Test-only kernel variants for AVX2 machines (built with the AVX2 flags; used by
// tests/kernels through simd::SetVariantOverrideForTesting, never by the dispatcher):
//   Avx2PairTestVariant: the generic kernels with 16-lane vectors emulated by ymm pairs and the
//     AVX-512 blocking, so the tiling the AVX-512 variants use is tested where AVX-512 is absent.
//   Avx2EmulatedBf16DotTestVariant: the same plus the AVX512-BF16 variant's GEMV, vdpbf16ps
//     emulated with f32 FMAs.
#include "kernels/attention_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemv_bf16dot_impl.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx2.h"

namespace dsvl::kernels::simd {
namespace {

// Stand-in for VecAvx512: 16 lanes as two ymm halves, with the AVX-512
// blocking (MR = 12, NC = 128). Instantiating the generic kernels with it checks their tiling,
// tails and epilogues at the AVX-512 sizes on CPUs that cannot run AVX-512 itself.
struct VecAvx2Pair {
  struct F {
    __m256 lo, hi;
  };
  static constexpr int kLanes = 16;
  static constexpr int kRegs = 32;  // mimic AVX-512 register blocking choices (spills do not matter here)
  static constexpr int kMR = 12;
  static constexpr int kNC = 128;
  using H = VecAvx2;

  static F Zero() { return {H::Zero(), H::Zero()}; }
  static F Set1(float v) { return {H::Set1(v), H::Set1(v)}; }
  static F Load(const float* p) { return {H::Load(p), H::Load(p + 8)}; }
  static void Store(float* p, F v) { H::Store(p, v.lo); H::Store(p + 8, v.hi); }
  static F LoadBf16(const uint16_t* p) { return {H::LoadBf16(p), H::LoadBf16(p + 8)}; }
  static F LoadF16(const uint16_t* p) { return {H::LoadF16(p), H::LoadF16(p + 8)}; }
  static F Fma(F a, F b, F c) { return {H::Fma(a.lo, b.lo, c.lo), H::Fma(a.hi, b.hi, c.hi)}; }
  static F Fnma(F a, F b, F c) { return {H::Fnma(a.lo, b.lo, c.lo), H::Fnma(a.hi, b.hi, c.hi)}; }
  static F Add(F a, F b) { return {H::Add(a.lo, b.lo), H::Add(a.hi, b.hi)}; }
  static F Sub(F a, F b) { return {H::Sub(a.lo, b.lo), H::Sub(a.hi, b.hi)}; }
  static F Mul(F a, F b) { return {H::Mul(a.lo, b.lo), H::Mul(a.hi, b.hi)}; }
  static F Div(F a, F b) { return {H::Div(a.lo, b.lo), H::Div(a.hi, b.hi)}; }
  static F Max(F a, F b) { return {H::Max(a.lo, b.lo), H::Max(a.hi, b.hi)}; }
  static F Min(F a, F b) { return {H::Min(a.lo, b.lo), H::Min(a.hi, b.hi)}; }
  static F Abs(F a) { return {H::Abs(a.lo), H::Abs(a.hi)}; }
  static F RoundNearest(F a) { return {H::RoundNearest(a.lo), H::RoundNearest(a.hi)}; }
  static F Pow2(F n) { return {H::Pow2(n.lo), H::Pow2(n.hi)}; }
  static float Sum(F v) { return H::Sum(H::Add(v.lo, v.hi)); }
  static float MaxOf(F v) { return H::MaxOf(H::Max(v.lo, v.hi)); }
};

void GemmAvx2Pair(ThreadPool& pool, const GemmArgs& g) { GemmImpl<VecAvx2Pair>::Run(pool, g); }

// Emulates vdpbf16ps on AVX2 (two f32 FMAs per lane pair, even element first, as the instruction's
// definition orders them) so that the bf16-dot GEMV logic can be tested here.
struct DotEmulatedBf16 {
  struct Acc {
    __m256 lo, hi;
  };
  struct Bh {
    __m256i lo, hi;  // 16 bf16 each
  };
  static Acc Zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static Bh LoadBh(const uint16_t* p) {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16))};
  }
  static __m256 Dot8(__m256 acc, __m256i x, __m256i w) {
    const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    const __m256 xe = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16)), we = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    const __m256 xo = _mm256_castsi256_ps(_mm256_and_si256(x, hi_mask)),
                 wo = _mm256_castsi256_ps(_mm256_and_si256(w, hi_mask));
    return _mm256_fmadd_ps(xo, wo, _mm256_fmadd_ps(xe, we, acc));
  }
  static Acc Dot(Acc acc, Bh x, Bh w) { return {Dot8(acc.lo, x.lo, w.lo), Dot8(acc.hi, x.hi, w.hi)}; }
  static float Sum(Acc a) { return VecAvx2::Sum(_mm256_add_ps(a.lo, a.hi)); }
};

void GemmAvx2EmulatedBf16Dot(ThreadPool& pool, const GemmArgs& g) {
  Bf16DotGemv<DotEmulatedBf16, VecAvx2Pair>::Gemm(pool, g);
}
void AttentionAvx2Pair(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx2Pair>::Run(pool, a); }

}  // namespace

const Variant& Avx2PairTestVariant() {
  static const Variant v{&GemmAvx2Pair, &AttentionAvx2Pair, RowImpl<VecAvx2Pair>::Table()};
  return v;
}

const Variant& Avx2EmulatedBf16DotTestVariant() {
  static const Variant v{&GemmAvx2EmulatedBf16Dot, &AttentionAvx2Pair, RowImpl<VecAvx2Pair>::Table()};
  return v;
}

}  // namespace dsvl::kernels::simd
