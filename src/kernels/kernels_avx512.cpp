// AVX-512F (+BW/VL/DQ) instantiation of the generic kernels (called only after
// IsaSupported(Isa::kAvx512)).
// GCC 12 reports false (maybe-)uninitialized warnings inside its own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/attention_impl.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemv_quant_impl.h"
#include "kernels/gemv_quant_x8_impl.h"
#include "kernels/int8_dot.h"
#include "kernels/rowops_impl.h"
#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {
namespace {

// Quantised weights: vpdpbusd where the CPU has AVX512-VNNI; without it (Skylake-X) only vpmaddubsw,
// so the GEMV takes the AVX2 dot steps.
void GemmAvx512(ThreadPool& pool, const GemmArgs& g) {
  static const bool vnni = __builtin_cpu_supports("avx512vnni");
  if (IsQuantized(g.B.dtype))
    return vnni ? QuantGemmAvx512Vnni(pool, g) : QuantGemmEntry<I8DotAvx2, VecAvx512>(pool, g);
  if (IsInterleavedQuant(g.B.dtype))  // repacked at load only with DSVL_INTERLEAVE=1 (not timed yet)
    return vnni ? InterleavedGemmAvx512Vnni(pool, g) : InterleavedGemmEntry<VecAvx512>(pool, g);
  GemmImpl<VecAvx512>::Run(pool, g);
}
void AttentionAvx512(ThreadPool& pool, const AttentionArgs& a) { AttentionImpl<VecAvx512>::Run(pool, a); }

}  // namespace

const Variant& Avx512Variant() {
  static const Variant v{&GemmAvx512, &AttentionAvx512, RowImpl<VecAvx512>::Table(), /*interleaved_quant=*/true};
  return v;
}

}  // namespace dsvl::kernels::simd
