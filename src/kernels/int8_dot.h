// 8-bit integer dot-product steps of the quantised GEMV (gemv_quant_impl.h), on 32 bytes at a time.
// Each returns acc + (per i32 lane j) Σ_{i=4j..4j+3} of the byte products, the lane grouping shared
// by vpmaddubsw+vpmaddwd and vpdpbusd (QuantAct's lane sums use it too).
//   DotU8S8(acc, u, s): u unsigned bytes x s signed bytes (4-bit weights x activations).
//   DotS8S8(init, w, a): signed x signed (Q8_0 weights x activations); `init` = Q8Init(lane sums
//     of a), which carries the correction of the offset trick where one is used.
#pragma once

#include <immintrin.h>

namespace dsvl::kernels::simd {
namespace {

// AVX2: vpmaddubsw (u8 x s8 -> pairs summed to saturating i16) + vpmaddwd against ones. A pair never
// saturates here: 4-bit weights give |15·127·2| and the Q8_0 sign trick |128·127·2| < 32767.
struct I8DotAvx2 {
  static __m256i DotU8S8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
  }
  // Sign trick: w·a = |w| · (a with the sign of w), and |w| <= 128 fits the unsigned operand.
  static __m256i Q8Init(__m256i) { return _mm256_setzero_si256(); }
  static __m256i DotS8S8(__m256i init, __m256i w, __m256i a) {
    return DotU8S8(init, _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
  }
};

// AVX512-VNNI on 256-bit vectors (needs AVX512VL too): vpdpbusd sums four u8 x s8 products into
// each i32 lane without intermediate saturation. 256 bits keep the block-of-32 structure of the
// formats; the GEMV is bound by weight bandwidth, not by the dot rate.
struct I8DotVnni {
  static __m256i DotU8S8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
  // Offset trick: w XOR 0x80 is w + 128 as an unsigned byte, so vpdpbusd gives Σ w·a + 128·Σ a;
  // starting the accumulator at -128 x (the activation lane sums) leaves exactly Σ w·a.
  static __m256i Q8Init(__m256i lanes) { return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(lanes, 7)); }
  static __m256i DotS8S8(__m256i init, __m256i w, __m256i a) {
    return _mm256_dpbusd_epi32(init, _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80))), a);
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
