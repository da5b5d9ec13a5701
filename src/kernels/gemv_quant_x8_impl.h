// GEMV over the interleaved quantised forms (Q8_0x8, Q4_0x8, Q4_Kx8: quant_formats.h) with AVX2
// integer dot products: decode-shaped calls (M <= kQuantGemvMaxM) on weights repacked at load.
//
// Why a second layout: with plain rows, each 32-value block of each row costs a horizontal chain
// (pairs -> i32 lanes -> f32 -> one FMA with that block's scale), about ten vector instructions per
// 32 weights, and on a 2-core Zen 3 that, not DRAM, limited 4-bit decode (~12 GB/s of weights against
// 27 GB/s of bandwidth). Interleaved, one 32-byte register holds the same 4 positions of 8 rows, so
// vpmaddubsw against the activations' 4 bytes broadcast gives each row its own lanes: a block's
// 4-bit products add up in i16 (16 products of at most 15·128 stay below 32767), one vpmaddwd,
// conversion and FMA then serve 8 rows, and the 8 rows' scales load as one vector. The weight stream
// is also one sequential run (groups of 8 rows are contiguous), which the hardware prefetcher follows.
//
// Activations are quantised once per call exactly as for the plain GEMV (quant_act_avx2.h: int8
// blocks of 32 with an f32 scale). Per row, in block order:
//   Q8_0: acc += f32(Σ q_w·q_x) · (d_w·d_x)
//   Q4_0: acc += f32(Σ q_w·q_x - 8·Σ q_x) · (d_w·d_x)
//   Q4_K: acc += f32(scale_j · Σ q_w·q_x) · (d·d_x) per sub-block j, then per super-block
//         acc -= (dmin·min_j) · (d_x·Σ q_x) for each j
// Each row's arithmetic is the same whatever M is (rows of a call are independent).
//
// kVnni (AVX512-VNNI on 256-bit vectors, the AVX-512 variants): vpdpbusd sums four u8 x s8 products
// straight into the row's i32 lane, so the i16 stage goes; Q8_0 uses the offset trick (w XOR 0x80 =
// w + 128, minus 128·Σ q_x). Every integer dot is the same number either way, so both give the same
// f32 results.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/gemm_impl.h"
#include "kernels/quant_act_avx2.h"
#include "kernels/quant_formats.h"
#include "kernels/simd.h"

namespace dsvl::kernels::simd {
namespace {

template <class V, bool kVnni = false>
struct QuantGemvX8 {
  // The 4 activation bytes at p in every 32-bit lane.
  static __m256i Bcast4(const int8_t* p) {
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static __m256 Scales8(const uint16_t* d) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d))); }

  // Prefetches the block `ahead` blocks on. The stream is sequential, but hardware prefetchers stop
  // at every 4 KiB page boundary; a block a few hundred bytes ahead carries the stream across them.
  // Past the group's end it still lies inside the weights or the row after them: a prefetch of an
  // address beyond the mapping is harmless (it never faults).
  template <class Blk>
  static void PrefetchAhead(const Blk* blk) {
    constexpr int kAhead = sizeof(Blk) >= 1024 ? 1 : sizeof(Blk) >= 256 ? 3 : 6;
    const char* p = reinterpret_cast<const char*>(blk + kAhead);
    for (size_t o = 0; o < sizeof(Blk); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
  }

  template <int MT>
  static void Store(const GemmArgs& g, const __m256 (&acc)[MT], int64_t m0, int64_t n) {
    for (int m = 0; m < MT; ++m) {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc[m]);
      for (int r = 0; r < 8; ++r) g.C[(m0 + m) * g.ldc + n + r] = GemmImpl<V>::Finish(g, lanes[r], m0 + m, n + r);
    }
  }

  // Rows [n, n + 8) (group at `w`), activation rows [m0, m0 + MT).
  template <int MT>
  static void GroupQ8_0(const GemmArgs& g, const QuantAct& a, const uint8_t* w, int64_t m0, int64_t n) {
    const auto* blk = reinterpret_cast<const quant::BlockQ8_0x8*>(w);
    [[maybe_unused]] const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a.nb; ++b, ++blk) {
      PrefetchAhead(blk);
      __m256i dot[MT];
      for (int m = 0; m < MT; ++m) dot[m] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * c));
        if constexpr (kVnni) {
          const __m256i wu = _mm256_xor_si256(wq, _mm256_set1_epi8(static_cast<char>(0x80)));
#pragma GCC unroll 4
          for (int m = 0; m < MT; ++m) dot[m] = _mm256_dpbusd_epi32(dot[m], wu, Bcast4(a.qs(m0 + m) + 32 * b + 4 * c));
        } else {
          const __m256i aw = _mm256_sign_epi8(wq, wq);  // |w| (-128 stays 128 as unsigned)
#pragma GCC unroll 4
          for (int m = 0; m < MT; ++m) {
            // w·x = |w| · (x with w's sign); a pair of those stays within 2·128·127 < 32767.
            const __m256i xs = _mm256_sign_epi8(Bcast4(a.qs(m0 + m) + 32 * b + 4 * c), wq);
            dot[m] = _mm256_add_epi32(dot[m], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xs), ones));
          }
        }
      }
      if constexpr (kVnni)
        for (int m = 0; m < MT; ++m) dot[m] = _mm256_sub_epi32(dot[m], _mm256_set1_epi32(128 * a.sum(m0 + m)[b]));
      const __m256 dw = Scales8(blk->d);
#pragma GCC unroll 4
      for (int m = 0; m < MT; ++m)
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[m]), _mm256_mul_ps(dw, _mm256_set1_ps(a.d(m0 + m)[b])), acc[m]);
    }
    Store<MT>(g, acc, m0, n);
  }

  template <int MT>
  static void GroupQ4_0(const GemmArgs& g, const QuantAct& a, const uint8_t* w, int64_t m0, int64_t n) {
    const auto* blk = reinterpret_cast<const quant::BlockQ4_0x8*>(w);
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F);
    __m256 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a.nb; ++b, ++blk) {
      PrefetchAhead(blk);
      __m256i s16[MT];
      for (int m = 0; m < MT; ++m) s16[m] = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * c));
        const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 4
        for (int m = 0; m < MT; ++m) {
          const int8_t* x = a.qs(m0 + m) + 32 * b + 4 * c;
          if constexpr (kVnni) {  // s16 holds i32 lanes here
            s16[m] = _mm256_dpbusd_epi32(s16[m], lo, Bcast4(x));
            s16[m] = _mm256_dpbusd_epi32(s16[m], hi, Bcast4(x + 16));
          } else {
            s16[m] = _mm256_add_epi16(s16[m], _mm256_maddubs_epi16(lo, Bcast4(x)));
            s16[m] = _mm256_add_epi16(s16[m], _mm256_maddubs_epi16(hi, Bcast4(x + 16)));
          }
        }
      }
      const __m256 dw = Scales8(blk->d);
#pragma GCC unroll 4
      for (int m = 0; m < MT; ++m) {
        // Σ (q - 8)·x = Σ q·x - 8·Σ x.
        const __m256i qx = kVnni ? s16[m] : _mm256_madd_epi16(s16[m], ones);
        const __m256i dot = _mm256_sub_epi32(qx, _mm256_set1_epi32(8 * a.sum(m0 + m)[b]));
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(dw, _mm256_set1_ps(a.d(m0 + m)[b])), acc[m]);
      }
    }
    Store<MT>(g, acc, m0, n);
  }

  // MT <= 2: two i16 sums per activation row stay in registers with the weights.
  template <int MT>
  static void GroupQ4_K(const GemmArgs& g, const QuantAct& a, const uint8_t* w, int64_t m0, int64_t n) {
    const auto* blk = reinterpret_cast<const quant::BlockQ4_Kx8*>(w);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < a.nb / 8; ++sb, ++blk) {
      PrefetchAhead(blk);
      const __m256 d8 = Scales8(blk->d), dmin8 = Scales8(blk->dmin);
      for (int p = 0; p < 4; ++p) {
        __m256i s_lo[MT], s_hi[MT];
        for (int m = 0; m < MT; ++m) s_lo[m] = s_hi[m] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 256 * p + 32 * c));
          const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
#pragma GCC unroll 2
          for (int m = 0; m < MT; ++m) {
            const int8_t* x = a.qs(m0 + m) + 256 * sb + 64 * p + 4 * c;
            if constexpr (kVnni) {  // i32 lanes
              s_lo[m] = _mm256_dpbusd_epi32(s_lo[m], lo, Bcast4(x));
              s_hi[m] = _mm256_dpbusd_epi32(s_hi[m], hi, Bcast4(x + 32));
            } else {
              s_lo[m] = _mm256_add_epi16(s_lo[m], _mm256_maddubs_epi16(lo, Bcast4(x)));
              s_hi[m] = _mm256_add_epi16(s_hi[m], _mm256_maddubs_epi16(hi, Bcast4(x + 32)));
            }
          }
        }
        // The sub-blocks' 8-bit scales, one per row lane, in both i16 halves of the lane, so that
        // vpmaddwd gives scale_j · (the lane's two partial sums).
        const __m256i sc_lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->scales + 16 * p)));
        const __m256i sc_hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->scales + 16 * p + 8)));
        [[maybe_unused]] const __m256i s2_lo = _mm256_or_si256(sc_lo, _mm256_slli_epi32(sc_lo, 16));
        [[maybe_unused]] const __m256i s2_hi = _mm256_or_si256(sc_hi, _mm256_slli_epi32(sc_hi, 16));
#pragma GCC unroll 2
        for (int m = 0; m < MT; ++m) {
          const float* dx = a.d(m0 + m) + 8 * sb + 2 * p;
          const __m256i i_lo = kVnni ? _mm256_mullo_epi32(s_lo[m], sc_lo) : _mm256_madd_epi16(s_lo[m], s2_lo);
          const __m256i i_hi = kVnni ? _mm256_mullo_epi32(s_hi[m], sc_hi) : _mm256_madd_epi16(s_hi[m], s2_hi);
          acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i_lo), _mm256_mul_ps(d8, _mm256_set1_ps(dx[0])), acc[m]);
          acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i_hi), _mm256_mul_ps(d8, _mm256_set1_ps(dx[1])), acc[m]);
        }
      }
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const __m256 mn = _mm256_mul_ps(dmin8, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                                                   _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk->mins + 8 * j)))));
#pragma GCC unroll 2
        for (int m = 0; m < MT; ++m) acc[m] = _mm256_fnmadd_ps(mn, _mm256_set1_ps(a.dsum(m0 + m)[8 * sb + j]), acc[m]);
      }
    }
    Store<MT>(g, acc, m0, n);
  }

  template <DType D, int MT>
  static void Group(const GemmArgs& g, const QuantAct& a, const uint8_t* w, int64_t m0, int64_t n) {
    if constexpr (D == DType::kQ8_0x8) GroupQ8_0<MT>(g, a, w, m0, n);
    else if constexpr (D == DType::kQ4_0x8) GroupQ4_0<MT>(g, a, w, m0, n);
    else GroupQ4_K<MT>(g, a, w, m0, n);
  }

  template <DType D>
  static void Typed(ThreadPool& pool, const GemmArgs& g, const QuantAct& a) {
    constexpr int kMaxMT = D == DType::kQ4_Kx8 ? 2 : 4;
    const int64_t group_bytes = 8 * static_cast<int64_t>(DTypeBytes(D, g.K));
    const int64_t groups = g.N / 8;
    // Tasks of >= 256 KiB of weights, as the plain GEMV: waking a thread costs microseconds.
    pool.ParallelFor(groups, MaxI(1, (int64_t{256} << 10) / MaxI(1, group_bytes)), [&](int64_t b, int64_t e) {
      for (int64_t grp = b; grp < e; ++grp) {
        const uint8_t* w = static_cast<const uint8_t*>(g.B.data) + grp * group_bytes;
        // A group is 8 rows (11-31 KiB for these models): passes after the first (M > kMaxMT) read
        // it from L1 or L2.
        for (int64_t m0 = 0; m0 < g.M; m0 += kMaxMT) {
          switch (MinI(kMaxMT, g.M - m0)) {
            case 1: Group<D, 1>(g, a, w, m0, grp * 8); break;
            case 2: Group<D, 2>(g, a, w, m0, grp * 8); break;
            case 3: if constexpr (kMaxMT >= 3) Group<D, 3>(g, a, w, m0, grp * 8); break;
            default: if constexpr (kMaxMT >= 4) Group<D, 4>(g, a, w, m0, grp * 8); break;
          }
        }
      }
    });
  }

  static void Run(ThreadPool& pool, const GemmArgs& g) {
    const QuantAct a = QuantAct::ForRows(g.A, g.M, g.K, g.lda);
    switch (g.B.dtype) {
      case DType::kQ8_0x8: Typed<DType::kQ8_0x8>(pool, g, a); break;
      case DType::kQ4_0x8: Typed<DType::kQ4_0x8>(pool, g, a); break;
      default: Typed<DType::kQ4_Kx8>(pool, g, a); break;
    }
  }
};

// The GEMM entry of a variant for the interleaved types: this GEMV for decode shapes, else the
// dequantising GEMM (gemm_impl.h), which widens each row as the plain types do.
template <class V, bool kVnni = false>
void InterleavedGemmEntry(ThreadPool& pool, const GemmArgs& g) {
  if (QuantGemvShaped(g)) return QuantGemvX8<V, kVnni>::Run(pool, g);
  GemmImpl<V>::Run(pool, g);
}

}  // namespace
}  // namespace dsvl::kernels::simd
