// The bf16 dot-product step of the AVX512-BF16 GEMV (gemv_bf16dot_impl.h): 32 bf16 pairs per
// vdpbf16ps. Include only from *_avx512bf16.cpp files (and the emulated test variant).
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
  static float Sum(Acc a) { return VecAvx512::Sum(a); }
};

}  // namespace
}  // namespace dsvl::kernels::simd
