// AVX2 + FMA + F16C instantiation of the generic kernels (built with -mavx2 -mfma -mf16c; called
// only after IsaSupported(Isa::kAvx2)).
#include "kernels/attention_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemv_quant_impl.h"
#include "kernels/gemv_quant_x8_impl.h"
#include "kernels/int8_dot.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx2.h"

namespace dsvl::kernels::simd {
namespace {

void GemmAvx2(ThreadPool& pool, const GemmArgs& g) {
  if (IsInterleavedQuant(g.B.dtype)) return InterleavedGemmEntry<VecAvx2>(pool, g);  // repacked at load
  if (IsQuantized(g.B.dtype)) {
    static const bool avx_vnni = CpuHasAvxVnni();
    return avx_vnni ? QuantGemmAvxVnni(pool, g) : QuantGemmEntry<I8DotAvx2, VecAvx2>(pool, g);
  }
  GemmImpl<VecAvx2>::Run(pool, g);
}
void AttentionAvx2(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx2>::Run(pool, a); }

}  // namespace

const Variant& Avx2Variant() {
  static const Variant v{&GemmAvx2, &AttentionAvx2, RowImpl<VecAvx2>::Table(), /*interleaved_quant=*/true,
                         /*interleave_by_default=*/true};
  return v;
}

}  // namespace dsvl::kernels::simd

