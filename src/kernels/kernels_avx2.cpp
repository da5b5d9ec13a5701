// AVX2 + FMA + F16C instantiation of the generic kernels (built with -mavx2 -mfma -mf16c; called
// only after IsaSupported(Isa::kAvx2)).
#include "kernels/attention_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemv_bf16dot_impl.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx2.h"

namespace dsvl::kernels::simd {
namespace {

void GemmAvx2(ThreadPool& pool, const GemmArgs& g) { GemmImpl<VecAvx2>::Run(pool, g); }
void AttentionAvx2(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx2>::Run(pool, a); }
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

const Variant& Avx2Variant() {
  static const Variant v{&GemmAvx2, &AttentionAvx2, RowImpl<VecAvx2>::Table()};
  return v;
}

}  // namespace dsvl::kernels::simd

namespace dsvl::kernels::simd {

const Variant& Avx2PairTestVariant() {
  static const Variant v{&GemmAvx2Pair, &AttentionAvx2Pair, RowImpl<VecAvx2Pair>::Table()};
  return v;
}

const Variant& Avx2EmulatedBf16DotTestVariant() {
  static const Variant v{&GemmAvx2EmulatedBf16Dot, &AttentionAvx2Pair, RowImpl<VecAvx2Pair>::Table()};
  return v;
}

}  // namespace dsvl::kernels::simd
