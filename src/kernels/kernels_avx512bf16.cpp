// AVX512-BF16 variant: the AVX-512 kernels, except that GEMV over bf16 weights (decode) feeds the
// weights straight to vdpbf16ps instead of widening them (gemv_bf16dot_impl.h). When this variant
// is picked: see PreferBf16Dot() in isa.h.

// GCC 12 reports false (maybe-)uninitialized warnings inside its own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/attention_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemv_bf16dot_impl.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {
namespace {

struct DotAvx512Bf16 {
  using Acc = __m512;
  using Bh = __m512bh;
  static Acc Zero() { return _mm512_setzero_ps(); }
  static Bh LoadBh(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }
  static Acc Dot(Acc acc, Bh x, Bh w) { return _mm512_dpbf16_ps(acc, x, w); }
  static float Sum(Acc a) { return VecAvx512::Sum(a); }
};

void GemmAvx512Bf16(ThreadPool& pool, const GemmArgs& g) { Bf16DotGemv<DotAvx512Bf16, VecAvx512>::Gemm(pool, g); }
void AttentionAvx512Bf16(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx512>::Run(pool, a); }

}  // namespace

const Variant& Avx512Bf16Variant() {
  static const Variant v{&GemmAvx512Bf16, &AttentionAvx512Bf16, RowImpl<VecAvx512>::Table()};
  return v;
}

}  // namespace dsvl::kernels::simd
