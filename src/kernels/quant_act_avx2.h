// Activations quantised on the fly for the integer-dot GEMV over quantised weights
// (gemv_quant_impl.h): each row of x is cut into blocks of 32 values, each block stored as 32 int8
// q = round_half_even(x · 127 / amax) with the f32 scale d = amax / 127 (so x ≈ d · q), plus what the
// weight formats' offsets need: the block's int8 sum as eight i32 lane sums (lane j = q[4j..4j+3],
// the grouping of vpmaddubsw+vpmaddwd and vpdpbusd) and d · Σq as f32. ref::RoundTripQ8Activations
// (reference.h) is the scalar definition: the same float operations in the same order, so both
// produce identical q and d. AVX2 code: every SIMD variant has AVX2.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/scratch.h"

namespace dsvl::kernels::simd {
namespace {

// One quantised activation matrix [M, K] (K a multiple of 32) in a caller-provided buffer. Per row:
// qs[K] int8, lanes[K/32] (8 x i32 each), d[K/32] f32, dsum[K/32] f32, sum[K/32] i32 (Σq); rows
// `stride` bytes apart.
struct QuantAct {
  uint8_t* base = nullptr;
  int64_t nb = 0;      // blocks of 32 per row
  int64_t stride = 0;  // bytes per row, a multiple of 64

  static int64_t RowBytes(int64_t K) { return (K + (K / 32) * (32 + 4 + 4 + 4) + 63) / 64 * 64; }

  const int8_t* qs(int64_t m) const { return reinterpret_cast<const int8_t*>(base + m * stride); }
  const __m256i* lanes(int64_t m) const { return reinterpret_cast<const __m256i*>(base + m * stride + nb * 32); }
  const float* d(int64_t m) const { return reinterpret_cast<const float*>(base + m * stride + nb * 64); }
  const float* dsum(int64_t m) const { return reinterpret_cast<const float*>(base + m * stride + nb * 68); }
  const int32_t* sum(int64_t m) const { return reinterpret_cast<const int32_t*>(base + m * stride + nb * 72); }

  // The M rows of x[M, K] (rows lda apart, K a multiple of 32) quantised into the calling thread's
  // scratch (both GEMVs over quantised weights start so).
  static QuantAct ForRows(const float* x, int64_t M, int64_t K, int64_t lda) {
    QuantAct a;
    a.nb = K / 32;
    a.stride = RowBytes(K);
    a.base = static_cast<uint8_t*>(ThreadScratch(ScratchSlot::kQuantX, static_cast<size_t>(M * a.stride)));
    for (int64_t m = 0; m < M; ++m) a.QuantizeRow(m, x + m * lda);
    return a;
  }

  // Quantises row m from x[0, 32·nb).
  void QuantizeRow(int64_t m, const float* x) const {
    uint8_t* row = base + m * stride;
    int8_t* q = reinterpret_cast<int8_t*>(row);
    __m256i* ln = reinterpret_cast<__m256i*>(row + nb * 32);
    float* dd = reinterpret_cast<float*>(row + nb * 64);
    float* ds = reinterpret_cast<float*>(row + nb * 68);
    int32_t* sm = reinterpret_cast<int32_t*>(row + nb * 72);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + 32 * b;
      const __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8), v2 = _mm256_loadu_ps(xb + 16),
                   v3 = _mm256_loadu_ps(xb + 24);
      const __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                      _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
      __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
      h = _mm_max_ps(h, _mm_movehl_ps(h, h));
      h = _mm_max_ss(h, _mm_movehdup_ps(h));
      const float amax = _mm_cvtss_f32(h);
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      const __m256 vi = _mm256_set1_ps(inv);
      // |x · inv| <= 127 up to one rounding, so the conversions round (half to even, the default
      // MXCSR mode) to [-127, 127] and the saturating packs never clip.
      const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vi)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vi));
      const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vi)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vi));
      // packs work per 128-bit half: dwords come out as (0-3, 8-11, 16-19, 24-27, 4-7, ...): reorder.
      const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
      const __m256i qv = _mm256_permutevar8x32_epi32(p, order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), qv);
      const __m256i l = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), qv), _mm256_set1_epi16(1));
      _mm256_store_si256(ln + b, l);
      __m128i s = _mm_add_epi32(_mm256_castsi256_si128(l), _mm256_extracti128_si256(l, 1));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
      const float d = amax / 127.0f;
      dd[b] = d;
      sm[b] = _mm_cvtsi128_si32(s);
      ds[b] = d * static_cast<float>(sm[b]);
    }
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
