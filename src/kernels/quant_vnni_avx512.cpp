// The quantised-weight GEMV and GEMM with AVX512-VNNI dot products (vpdpbusd; int8_dot.h,
// gemm_quant_vnni_impl.h) for the AVX-512 and AVX512-BF16 variants, on CPUs that have VNNI (Ice
// Lake, Sapphire Rapids, Zen 4/5; not Skylake-X). Built with the AVX-512 flags plus -mavx512vnni
// (both from the file name, CMakeLists.txt); callers check CPUID.

// GCC 12 reports false (maybe-)uninitialized warnings inside its own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/gemm_quant_vnni_impl.h"
#include "kernels/gemv_quant_impl.h"
#include "kernels/gemv_quant_x8_impl.h"
#include "kernels/int8_dot.h"
#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {

void QuantGemmAvx512Vnni(ThreadPool& pool, const GemmArgs& g) {
  QuantGemmEntry<I8DotVnni, VecAvx512, QuantGemmVnni>(pool, g);
}

void InterleavedGemmAvx512Vnni(ThreadPool& pool, const GemmArgs& g) { InterleavedGemmEntry<VecAvx512, true>(pool, g); }

}  // namespace dsvl::kernels::simd
