// GEMV over block-quantised weights (Q8_0, Q4_0, Q4_K; layouts in quant_formats.h) with 8-bit
// integer dot products, generic over the dot traits I (int8_dot.h) and the f32 vector traits V (for
// the epilogue and the GEMM fallback). Included by the per-ISA translation units.
//
// Decode-shaped calls (M <= kQuantGemvMaxM, simd.h): the activation rows are quantised once per call
// into int8 blocks of 32 with an f32 scale (quant_act_avx2.h, calling thread's scratch). Per weight
// block of 32 (a Q4_K sub-block) and activation block, the integer dot Σ q_w·q_x is exact in i32 and
// is scaled once in f32:
//   Q8_0: d_w·d_x · Σ q_w·q_x
//   Q4_0: d_w·d_x · (Σ q_w·q_x - 8·Σ q_x)            (the -8 folded into the i32 accumulator start)
//   Q4_K: d·scale_j·d_x · Σ q_w·q_x - dmin·min_j · d_x·Σ q_x   (per sub-block j)
// Tasks own groups of 4 weight rows (>= 256 KiB of weights each); each step streams NW rows once
// for up to 4 activation rows, prefetching the next step's rows at the same offset (rows are often
// one 4 KiB page or less, where hardware prefetchers stop). Larger M: with VNNI the integer GEMM
// (gemm_quant_vnni_impl.h, same activation quantisation), else the widening GEMM (gemm_impl.h), which
// dequantises each packed weight panel to f32 and keeps f32 activations.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/gemm_impl.h"
#include "kernels/int8_dot.h"
#include "kernels/quant_act_avx2.h"
#include "kernels/quant_formats.h"
#include "kernels/simd.h"

namespace dsvl::kernels::simd {
namespace {

template <class I, class V>
struct QuantGemv {
  static float HalfToF32(uint16_t h) { return _cvtsh_ss(h); }

  static float Sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // Prefetches bytes [p, p + n) (n <= 192) of a weight row for a later step.
  static void Prefetch(const uint8_t* p, int n) {
    for (int o = 0; o < n; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
  }

  template <int MT, int NW>
  static void Store(const GemmArgs& g, const __m256 (&acc)[MT][NW], int64_t m0, int64_t n) {
    for (int m = 0; m < MT; ++m)
      for (int r = 0; r < NW; ++r)
        g.C[(m0 + m) * g.ldc + n + r] = GemmImpl<V>::Finish(g, Sum8(acc[m][r]), m0 + m, n + r);
  }

  // ---- Q8_0 and Q4_0: NW weight rows' blocks held in registers, reused for MT activation rows.
  template <DType D, int MT, int NW>
  static void Block32(const GemmArgs& g, const QuantAct& a, int64_t row_bytes, int64_t m0, int64_t n) {
    using Blk = std::conditional_t<D == DType::kQ8_0, quant::BlockQ8_0, quant::BlockQ4_0>;
    const int64_t nb = g.K / 32;
    const uint8_t* w0 = static_cast<const uint8_t*>(g.B.data) + n * row_bytes;
    const uint8_t* next = w0 + NW * row_bytes;
    const bool prefetch = n + 2 * NW <= g.N;
    __m256 acc[MT][NW];
    for (int m = 0; m < MT; ++m)
      for (int r = 0; r < NW; ++r) acc[m][r] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      if (prefetch)
        for (int r = 0; r < NW; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(next + r * row_bytes + b * sizeof(Blk)), _MM_HINT_T0);
      __m256i wq[NW];
      __m256 dw[NW];
#pragma GCC unroll 4
      for (int r = 0; r < NW; ++r) {
        const Blk* blk = reinterpret_cast<const Blk*>(w0 + r * row_bytes) + b;
        dw[r] = _mm256_set1_ps(HalfToF32(blk->d));
        if constexpr (D == DType::kQ8_0) {
          wq[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
        } else {
          // Byte j: value j in the low nibble, value j + 16 in the high nibble.
          const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
          wq[r] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), low4);
        }
      }
#pragma GCC unroll 4
      for (int m = 0; m < MT; ++m) {
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs(m0 + m) + 32 * b));
        const __m256 dx = _mm256_set1_ps(a.d(m0 + m)[b]);
        const __m256i lanes = a.lanes(m0 + m)[b];
        // Q4_0: Σ (q - 8)·x = Σ q·x - 8·Σ x, started at -8 x the lane sums.
        const __m256i init = D == DType::kQ8_0 ? I::Q8Init(lanes)
                                               : _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(lanes, 3));
#pragma GCC unroll 4
        for (int r = 0; r < NW; ++r) {
          const __m256i dot = D == DType::kQ8_0 ? I::DotS8S8(init, wq[r], xq) : I::DotU8S8(init, wq[r], xq);
          acc[m][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(dw[r], dx), acc[m][r]);
        }
      }
    }
    Store<MT, NW>(g, acc, m0, n);
  }

  // ---- Q4_K: per super-block of 256 and weight row, the eight sub-block scales d·scale_j·d_x as
  // one vector (lane j), broadcast per sub-block; the minimums' term as one 8-lane FMA per row,
  // subtracted from the same accumulator (all lanes are summed at the end).
  template <int MT, int NW>
  static void BlockK(const GemmArgs& g, const QuantAct& a, int64_t row_bytes, int64_t m0, int64_t n) {
    using Blk = quant::BlockQ4_K;
    const int64_t nsb = g.K / 256;
    const uint8_t* w0 = static_cast<const uint8_t*>(g.B.data) + n * row_bytes;
    const uint8_t* next = w0 + NW * row_bytes;
    const bool prefetch = n + 2 * NW <= g.N;
    __m256 acc[MT][NW];
    for (int m = 0; m < MT; ++m)
      for (int r = 0; r < NW; ++r) acc[m][r] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t sb = 0; sb < nsb; ++sb) {
      if (prefetch)
        for (int r = 0; r < NW; ++r) Prefetch(next + r * row_bytes + sb * sizeof(Blk), static_cast<int>(sizeof(Blk)));
#pragma GCC unroll 4
      for (int m = 0; m < MT; ++m) {
        const __m256 dx8 = _mm256_loadu_ps(a.d(m0 + m) + 8 * sb);
        const __m256 dsum8 = _mm256_loadu_ps(a.dsum(m0 + m) + 8 * sb);
        const int8_t* xq = a.qs(m0 + m) + 256 * sb;
#pragma GCC unroll 4
        for (int r = 0; r < NW; ++r) {
          const Blk* blk = reinterpret_cast<const Blk*>(w0 + r * row_bytes) + sb;
          const __m256 sc = U8x8ToF32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->scales)));
          const __m256 mn = U8x8ToF32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->mins)));
          const __m256 s8 = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(HalfToF32(blk->d)), sc), dx8);
          __m256 ac = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_set1_ps(HalfToF32(blk->dmin)), mn), dsum8, acc[m][r]);
#pragma GCC unroll 4
          for (int p = 0; p < 4; ++p) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * p));
            const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
            const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 64 * p));
            const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 64 * p + 32));
            const __m256i d0 = I::DotU8S8(_mm256_setzero_si256(), lo, x0);
            const __m256i d1 = I::DotU8S8(_mm256_setzero_si256(), hi, x1);
            const __m256 s_lo = _mm256_permutevar8x32_ps(s8, _mm256_set1_epi32(2 * p));
            const __m256 s_hi = _mm256_permutevar8x32_ps(s8, _mm256_set1_epi32(2 * p + 1));
            ac = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), s_lo, ac);
            ac = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), s_hi, ac);
          }
          acc[m][r] = ac;
        }
      }
    }
    Store<MT, NW>(g, acc, m0, n);
  }

  template <DType D, int MT, int NW>
  static void Step(const GemmArgs& g, const QuantAct& a, int64_t row_bytes, int64_t m0, int64_t n) {
    if constexpr (D == DType::kQ4_K) BlockK<MT, NW>(g, a, row_bytes, m0, n);
    else Block32<D, MT, NW>(g, a, row_bytes, m0, n);
  }

  // Weight rows per step: 4 while MT·4 accumulators + 4 weights + their 4 scales + 2 activation
  // registers fit in 16 ymm registers (AVX2) or 32 (AVX-512), else 2.
  static constexpr int RowsPerStep(int mt) { return mt * 4 + 8 + 2 <= V::kRegs ? 4 : 2; }

  template <DType D, int MT>
  static void Range(const GemmArgs& g, const QuantAct& a, int64_t row_bytes, int64_t m0, int64_t n0, int64_t n1) {
    constexpr int NW = RowsPerStep(MT);
    int64_t n = n0;
    for (; n + NW <= n1; n += NW) Step<D, MT, NW>(g, a, row_bytes, m0, n);
    for (; n < n1; ++n) Step<D, MT, 1>(g, a, row_bytes, m0, n);
  }

  template <DType D>
  static void Typed(ThreadPool& pool, const GemmArgs& g, const QuantAct& a) {
    const int64_t row_bytes = static_cast<int64_t>(DTypeBytes(D, g.K));
    const int64_t groups = CeilDiv(g.N, 4);
    pool.ParallelFor(groups, MaxI(1, (int64_t{256} << 10) / MaxI(1, 4 * row_bytes)), [&](int64_t b, int64_t e) {
      // Chunks of 16 weight rows, swept once per 4 activation rows: the rows stay in L1 between
      // sweeps, so M up to kQuantGemvMaxM still reads each weight from memory once.
      for (int64_t c0 = b * 4; c0 < MinI(g.N, e * 4); c0 += 16) {
        const int64_t c1 = MinI(MinI(g.N, e * 4), c0 + 16);
        for (int64_t m0 = 0; m0 < g.M; m0 += 4) {
          switch (MinI(4, g.M - m0)) {
            case 1: Range<D, 1>(g, a, row_bytes, m0, c0, c1); break;
            case 2: Range<D, 2>(g, a, row_bytes, m0, c0, c1); break;
            case 3: Range<D, 3>(g, a, row_bytes, m0, c0, c1); break;
            default: Range<D, 4>(g, a, row_bytes, m0, c0, c1); break;
          }
        }
      }
    });
  }

  static void Run(ThreadPool& pool, const GemmArgs& g) {
    const QuantAct a = QuantAct::ForRows(g.A, g.M, g.K, g.lda);
    switch (g.B.dtype) {
      case DType::kQ8_0: Typed<DType::kQ8_0>(pool, g, a); break;
      case DType::kQ4_0: Typed<DType::kQ4_0>(pool, g, a); break;
      default: Typed<DType::kQ4_K>(pool, g, a); break;
    }
  }
};

// The GEMM entry of a variant for quantised weights: the integer-dot GEMV for decode shapes, else
// Gemm::Run: the dequantising GemmImpl<V>, or the integer GEMM where the CPU has VNNI
// (gemm_quant_vnni_impl.h).
template <class I, class V, class Gemm = GemmImpl<V>>
void QuantGemmEntry(ThreadPool& pool, const GemmArgs& g) {
  if (QuantGemvShaped(g)) {
    QuantGemv<I, V>::Run(pool, g);
    return;
  }
  Gemm::Run(pool, g);
}

}  // namespace
}  // namespace dsvl::kernels::simd
