// The bf16 dot-product steps of the AVX512-BF16 GEMV and GEMM (gemv_bf16dot_impl.h,
// gemm_bf16dot_impl.h): 16 bf16 pairs per vdpbf16ps. Include only from *_avx512bf16.cpp files
// (and the tests' emulated copy of that variant).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {
namespace {

struct DotAvx512Bf16 {
  using Acc = __m512;
  using Bh = __m512bh;
  static Acc Zero() { return _mm512_setzero_ps(); }
  static Bh LoadBh(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }
  static Acc Dot(Acc acc, Bh x, Bh w) { return _mm512_dpbf16_ps(acc, x, w); }
  // One bf16 pair (a 32-bit word) in every lane: the GEMM's activation operand.
  static Bh Broadcast32(uint32_t pair) { return (__m512bh)_mm512_set1_epi32(static_cast<int>(pair)); }
  // x[0..32) rounded to bf16 (nearest even), in order.
  static void Round32(const float* x, uint16_t* out) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
    _mm512_storeu_si512(out, (__m512i)v);
  }
  static float Sum(Acc a) { return VecAvx512::Sum(a); }
};

}  // namespace
}  // namespace dsvl::kernels::simd
