// AVX512-BF16 variant: the AVX-512 kernels, except that the GEMV over bf16 weights (decode) feeds
// them straight to vdpbf16ps, keeping f32 accuracy with a 3-term split of the activations
// (gemv_bf16dot_impl.h); with the opt-in bf16 activations (isa.h) the GEMM does too, on activations
// rounded to bf16, for twice the FMA rate (gemm_bf16dot_impl.h). When this variant is picked:
// PreferBf16Dot() in isa.h.

// GCC 12 reports false (maybe-)uninitialized warnings inside its own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/attention_impl.h"
#include "kernels/dot_avx512bf16.h"
#include "kernels/gemm_bf16dot_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemv_bf16dot_impl.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {
namespace {

void GemmAvx512Bf16(ThreadPool& pool, const GemmArgs& g) {
  // Every AVX512-BF16 CPU (Cooper Lake, Sapphire Rapids and later, Zen 4/5) also has AVX512-VNNI,
  // and IsaSupported(Isa::kAvx512Bf16) checks it.
  if (IsQuantized(g.B.dtype)) return QuantGemmAvx512Vnni(pool, g);
  // Interleaved types: repacked at load only with DSVL_INTERLEAVE=1 (not timed yet).
  if (IsInterleavedQuant(g.B.dtype)) return InterleavedGemmAvx512Vnni(pool, g);
  Bf16DotGemmEntry<DotAvx512Bf16, VecAvx512>(pool, g);
}
void AttentionAvx512Bf16(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx512>::Run(pool, a); }

}  // namespace

const Variant& Avx512Bf16Variant() {
  static const Variant v{&GemmAvx512Bf16, &AttentionAvx512Bf16, RowImpl<VecAvx512>::Table(), /*interleaved_quant=*/true};
  return v;
}

}  // namespace dsvl::kernels::simd
