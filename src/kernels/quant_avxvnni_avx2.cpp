// The quantised-weight GEMV with AVX-VNNI (the VEX-encoded vpdpbusd of Alder Lake and later Intel
// client CPUs and Zen 5, which have it without AVX-512) for the AVX2 variant; larger M takes the
// dequantising GEMM as elsewhere on AVX2. Built with the AVX2 flags plus -mavxvnni (both from the
// file name, CMakeLists.txt); the AVX2 variant calls it only where CpuHasAvxVnni() says so.

#include <cpuid.h>

#include "kernels/gemv_quant_impl.h"
#include "kernels/vec_avx2.h"

namespace dsvl::kernels::simd {
namespace {

// I8DotVnni (int8_dot.h) with the VEX encoding.
struct I8DotAvxVnni {
  static __m256i DotU8S8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
  // Offset trick, as I8DotVnni: (w XOR 0x80)·a = w·a + 128·a, started at -128 x the lane sums.
  static __m256i Q8Init(__m256i lanes) { return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(lanes, 7)); }
  static __m256i DotS8S8(__m256i init, __m256i w, __m256i a) {
    return _mm256_dpbusd_avx_epi32(init, _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80))), a);
  }
};

}  // namespace

// CPUID.(EAX=7, ECX=1):EAX bit 4. (GCC 12's __builtin_cpu_supports("avxvnni") reports false on CPUs
// that have it.) The OS saving the ymm state is already implied by the AVX2 variant being chosen.
bool CpuHasAvxVnni() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    return (a & (1u << 4)) != 0;
  }();
  return has;
}

void QuantGemmAvxVnni(ThreadPool& pool, const GemmArgs& g) { QuantGemmEntry<I8DotAvxVnni, VecAvx2>(pool, g); }

}  // namespace dsvl::kernels::simd
