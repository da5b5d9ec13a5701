// Block-quantised weights (quant_formats.h) widened to f32 with AVX2, for the GEMM's packed panels
// (gemm_impl.h). Same values as quant::DequantizeRow (same float operations per element).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/tensor.h"
#include "kernels/quant_formats.h"

namespace dsvl::kernels::simd {
namespace {

// 8 unsigned bytes -> 8 f32.
inline __m256 U8x8ToF32(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }

// Widens blocks of 32 values [b0, b0 + nblocks) (Q4_K: sub-blocks) of one quantised row (starting
// at `row`) into out.
template <DType D>
void DequantBlocks(const uint8_t* row, int64_t b0, int64_t nblocks, float* out) {
  if constexpr (D == DType::kQ8_0) {
    const auto* blk = reinterpret_cast<const quant::BlockQ8_0*>(row) + b0;
    for (int64_t b = 0; b < nblocks; ++b, ++blk, out += 32) {
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(blk->d));
      for (int i = 0; i < 4; ++i) {
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->qs + 8 * i));
        _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
      }
    }
  } else if constexpr (D == DType::kQ4_0) {
    const auto* blk = reinterpret_cast<const quant::BlockQ4_0*>(row) + b0;
    const __m128i low4 = _mm_set1_epi8(0x0F);
    const __m256 eight = _mm256_set1_ps(8.0f);
    for (int64_t b = 0; b < nblocks; ++b, ++blk, out += 32) {
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(blk->d));
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
      const __m128i lo = _mm_and_si128(v, low4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
      const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
      for (int i = 0; i < 4; ++i)
        _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(d, _mm256_sub_ps(U8x8ToF32(parts[i]), eight)));
    }
  } else {
    static_assert(D == DType::kQ4_K);
    // b0 and nblocks count sub-blocks of 32 here too (what the GEMM's K blocking asks for).
    const auto* sblk = reinterpret_cast<const quant::BlockQ4_K*>(row);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    for (int64_t j = b0; j < b0 + nblocks; ++j, out += 32) {
      const quant::BlockQ4_K& blk = sblk[j / 8];
      const int s = static_cast<int>(j % 8);
      const __m256 sc = _mm256_set1_ps(_cvtsh_ss(blk.d) * blk.scales[s]);
      const __m256 mn = _mm256_set1_ps(_cvtsh_ss(blk.dmin) * blk.mins[s]);
      const uint8_t* qs = blk.qs + 32 * (s / 2);
      for (int i = 0; i < 2; ++i) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16 * i));
        v = _mm_and_si128(s % 2 ? _mm_srli_epi16(v, 4) : v, low4);
        _mm256_storeu_ps(out + 16 * i, _mm256_sub_ps(_mm256_mul_ps(sc, U8x8ToF32(v)), mn));
        _mm256_storeu_ps(out + 16 * i + 8, _mm256_sub_ps(_mm256_mul_ps(sc, U8x8ToF32(_mm_srli_si128(v, 8))), mn));
      }
    }
  }
}

}  // namespace
}  // namespace dsvl::kernels::simd
