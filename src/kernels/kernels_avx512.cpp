// AVX-512F (+BW/VL/DQ) instantiation of the generic kernels (called only after
// IsaSupported(Isa::kAvx512)).
// GCC 12 reports false (maybe-)uninitialized warnings inside its own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/attention_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {
namespace {

void GemmAvx512(ThreadPool& pool, const GemmArgs& g) { GemmImpl<VecAvx512>::Run(pool, g); }
void AttentionAvx512(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx512>::Run(pool, a); }

}  // namespace

const Variant& Avx512Variant() {
  static const Variant v{&GemmAvx512, &AttentionAvx512, RowImpl<VecAvx512>::Table()};
  return v;
}

}  // namespace dsvl::kernels::simd
