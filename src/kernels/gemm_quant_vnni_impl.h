// Integer GEMM over block-quantised weights (Q8_0, Q4_0, Q4_K) with AVX512-VNNI (vpdpbusd on zmm),
// for Linear calls with more rows than the GEMV takes (prefill, vision). Included by
// quant_vnni_avx512.cpp (and the tests' SIMDe-emulated AVX512-BF16 variant).
//
// The activations are quantised once per call exactly as for the GEMV (quant_act_avx2.h: int8 blocks
// of 32 with an f32 scale), so prefill and decode share one numerics (ref::LinearQ8Act).
// Per task (NC output columns x a range of rows, as GemmImpl::ForBlocks) and K block of KC, the
// weights are packed per panel of NR = 32 columns and block of 32 values as
//   u8 [8 groups of 4 k][32 columns][4]   (1 KiB: two zmm per group)
//   f32 scale[32], f32 min[32]             (Q4_K's dmin·min_j; 0 otherwise)
// with each weight stored as an unsigned byte u = q + off (off = 128 for Q8_0's signed q, 8 for Q4_0's
// q - 8, 0 for Q4_K's q), so vpdpbusd(u, x) gives Σ q·x + off·Σ x; the accumulator starts at
// -off·Σ x (the block's activation sum), leaving the exact Σ q·x. An MR x NR micro-kernel runs each
// block's 8 vpdpbusd steps in i32 (activation groups of 4 bytes broadcast), then scales into f32:
//   acc += f32(Σ q·x) · (scale · d_x)   [- min · d_x·Σ x for Q4_K].
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/gemm_impl.h"
#include "kernels/quant_act_avx2.h"
#include "kernels/quant_formats.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"
#include "kernels/vec_avx512.h"

namespace dsvl::kernels::simd {
namespace {

struct QuantGemmVnni {
  static constexpr int MR = 6;   // 6 x 2 i32 + 6 x 2 f32 accumulators + 2 weights + 1 activation
  static constexpr int NR = 32;
  static constexpr int64_t NC = GemmImpl<VecAvx512>::NC;  // ForBlocks' column block
  static constexpr int64_t KC = 512;
  static constexpr int64_t kBlockBytes = 8 * NR * 4 + 2 * NR * 4;  // quants, scales, mins
  static_assert(NC % NR == 0);

  // Weight value offset making every stored byte unsigned (see the top of this file).
  static constexpr int Offset(DType D) { return D == DType::kQ8_0 ? 128 : D == DType::kQ4_0 ? 8 : 0; }

  // Block i (of 32 values; Q4_K: sub-block) of a quantised row as 32 unsigned bytes q + off, its
  // scale and (Q4_K) minimum.
  template <DType D>
  static __m256i Unpack(const uint8_t* row, int64_t i, float* scale, float* min) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    if constexpr (D == DType::kQ8_0) {
      const auto* b = reinterpret_cast<const quant::BlockQ8_0*>(row) + i;
      *scale = _cvtsh_ss(b->d);
      *min = 0.0f;
      return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs)),
                              _mm256_set1_epi8(static_cast<char>(0x80)));
    } else if constexpr (D == DType::kQ4_0) {
      const auto* b = reinterpret_cast<const quant::BlockQ4_0*>(row) + i;
      *scale = _cvtsh_ss(b->d);
      *min = 0.0f;
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs));
      return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), low4);
    } else {
      const auto* b = reinterpret_cast<const quant::BlockQ4_K*>(row) + i / 8;
      const int s = static_cast<int>(i % 8);
      *scale = _cvtsh_ss(b->d) * b->scales[s];
      *min = _cvtsh_ss(b->dmin) * b->mins[s];
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs + 32 * (s / 2)));
      return _mm256_and_si256(s % 2 ? _mm256_srli_epi16(v, 4) : v, low4);
    }
  }

  // dst[(t·NR + i)·4 ...] = dword t of r[i], for i, t < 8 (8 columns' blocks -> 8 groups of 4 k).
  static void Transpose8x8Store(const __m256i* r, uint8_t* dst) {
    __m256 f[8];
    for (int i = 0; i < 8; ++i) f[i] = _mm256_castsi256_ps(r[i]);
    const __m256 t0 = _mm256_unpacklo_ps(f[0], f[1]), t1 = _mm256_unpackhi_ps(f[0], f[1]);
    const __m256 t2 = _mm256_unpacklo_ps(f[2], f[3]), t3 = _mm256_unpackhi_ps(f[2], f[3]);
    const __m256 t4 = _mm256_unpacklo_ps(f[4], f[5]), t5 = _mm256_unpackhi_ps(f[4], f[5]);
    const __m256 t6 = _mm256_unpacklo_ps(f[6], f[7]), t7 = _mm256_unpackhi_ps(f[6], f[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    float* d = reinterpret_cast<float*>(dst);
    _mm256_storeu_ps(d + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
  }

  // Packs columns [n0, n0 + nc) x blocks [b0, b0 + nbk) into ceil(nc / NR) panels of nbk blocks;
  // columns past nc are zero (their results are never stored).
  template <DType D>
  static void Pack(const GemmArgs& g, int64_t n0, int64_t nc, int64_t b0, int64_t nbk, uint8_t* P) {
    const int64_t row_bytes = static_cast<int64_t>(DTypeBytes(D, g.B.ld));
    const int64_t panels = CeilDiv(nc, NR);
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t b = 0; b < nbk; ++b) {
        uint8_t* pb = P + (p * nbk + b) * kBlockBytes;
        float* scales = reinterpret_cast<float*>(pb + 8 * NR * 4);
        for (int j0 = 0; j0 < NR; j0 += 8) {
          __m256i u[8];
          for (int j = 0; j < 8; ++j) {
            const int64_t col = p * NR + j0 + j;
            if (col < nc) {
              const uint8_t* row = static_cast<const uint8_t*>(g.B.data) + (n0 + col) * row_bytes;
              u[j] = Unpack<D>(row, b0 + b, &scales[j0 + j], &scales[NR + j0 + j]);
            } else {
              u[j] = _mm256_setzero_si256();
              scales[j0 + j] = scales[NR + j0 + j] = 0.0f;
            }
          }
          Transpose8x8Store(u, pb + j0 * 4);
        }
      }
  }

  // Rows [m, m + mr) x one panel over blocks [b0, b0 + nbk): C tile (mr x nr) = alpha·acc (+ beta·C +
  // bias on the first K block; + C on later ones). Rows past mr repeat row m + mr - 1 (not stored).
  template <DType D>
  static void Tile(const GemmArgs& g, const QuantAct& a, int64_t m, int64_t mr, int64_t b0, int64_t nbk,
                   const uint8_t* pp, int64_t ncol, int64_t nr, bool first) {
    constexpr int off = Offset(D);
    const int8_t* xq[MR];
    const float* xd[MR];
    const int32_t* xs[MR];
    const float* xds[MR];
    for (int i = 0; i < MR; ++i) {
      const int64_t row = m + MinI(i, mr - 1);
      xq[i] = a.qs(row);
      xd[i] = a.d(row);
      xs[i] = a.sum(row);
      xds[i] = a.dsum(row);
    }
    __m512 f0[MR], f1[MR];
    for (int i = 0; i < MR; ++i) f0[i] = f1[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nbk; ++b) {
      const int64_t blk = b0 + b;
      const uint8_t* pb = pp + b * kBlockBytes;
      __m512i i0[MR], i1[MR];
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) i0[i] = i1[i] = _mm512_set1_epi32(-off * xs[i][blk]);
#pragma GCC unroll 8
      for (int gi = 0; gi < 8; ++gi) {
        const __m512i w0 = _mm512_loadu_si512(pb + gi * NR * 4), w1 = _mm512_loadu_si512(pb + gi * NR * 4 + 64);
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
          int32_t x4;
          std::memcpy(&x4, xq[i] + 32 * blk + 4 * gi, 4);
          const __m512i xv = _mm512_set1_epi32(x4);
          i0[i] = _mm512_dpbusd_epi32(i0[i], w0, xv);
          i1[i] = _mm512_dpbusd_epi32(i1[i], w1, xv);
        }
      }
      const float* sc = reinterpret_cast<const float*>(pb + 8 * NR * 4);
      const __m512 s0 = _mm512_loadu_ps(sc), s1 = _mm512_loadu_ps(sc + 16);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m512 dx = _mm512_set1_ps(xd[i][blk]);
        f0[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[i]), _mm512_mul_ps(s0, dx), f0[i]);
        f1[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[i]), _mm512_mul_ps(s1, dx), f1[i]);
      }
      if constexpr (D == DType::kQ4_K) {
        const __m512 n0 = _mm512_loadu_ps(sc + NR), n1 = _mm512_loadu_ps(sc + NR + 16);
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
          const __m512 ds = _mm512_set1_ps(xds[i][blk]);
          f0[i] = _mm512_fnmadd_ps(n0, ds, f0[i]);
          f1[i] = _mm512_fnmadd_ps(n1, ds, f1[i]);
        }
      }
    }
    if (mr == MR && nr == NR) {
      const __m512 va = _mm512_set1_ps(g.alpha), vb = _mm512_set1_ps(g.beta);
      for (int i = 0; i < MR; ++i) {
        float* c = g.C + (m + i) * g.ldc + ncol;
        __m512 r0, r1;
        if (first) {
          r0 = _mm512_mul_ps(va, f0[i]);
          r1 = _mm512_mul_ps(va, f1[i]);
          if (g.beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + 16), r1);
          }
          if (g.bias) {
            r0 = _mm512_add_ps(r0, _mm512_loadu_ps(g.bias + ncol));
            r1 = _mm512_add_ps(r1, _mm512_loadu_ps(g.bias + ncol + 16));
          }
        } else {
          r0 = _mm512_fmadd_ps(va, f0[i], _mm512_loadu_ps(c));
          r1 = _mm512_fmadd_ps(va, f1[i], _mm512_loadu_ps(c + 16));
        }
        _mm512_storeu_ps(c, r0);
        _mm512_storeu_ps(c + 16, r1);
      }
      return;
    }
    alignas(64) float tile[MR * NR];
    for (int i = 0; i < MR; ++i) {
      _mm512_store_ps(tile + i * NR, f0[i]);
      _mm512_store_ps(tile + i * NR + 16, f1[i]);
    }
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; ++j) {
        float* cij = g.C + (m + i) * g.ldc + ncol + j;
        float v = g.alpha * tile[i * NR + j];
        if (first) {
          if (g.beta != 0.0f) v += g.beta * *cij;
          if (g.bias) v += g.bias[ncol + j];
        } else {
          v += *cij;
        }
        *cij = v;
      }
  }

  template <DType D>
  static void Task(const GemmArgs& g, const QuantAct& a, int64_t n0, int64_t m0, int64_t m1) {
    const int64_t nc = MinI(NC, g.N - n0), panels = CeilDiv(nc, NR);
    uint8_t* P = static_cast<uint8_t*>(
        ThreadScratch(ScratchSlot::kPackB, static_cast<size_t>(panels * (KC / 32) * kBlockBytes)));
    for (int64_t k0 = 0; k0 < g.K; k0 += KC) {
      const int64_t nbk = MinI(KC, g.K - k0) / 32, b0 = k0 / 32;
      Pack<D>(g, n0, nc, b0, nbk, P);
      for (int64_t m = m0; m < m1; m += MR)
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t ncol = n0 + p * NR;
          Tile<D>(g, a, m, MinI(MR, m1 - m), b0, nbk, P + p * nbk * kBlockBytes, ncol, MinI(NR, g.N - ncol), k0 == 0);
        }
    }
  }

  static void Run(ThreadPool& pool, const GemmArgs& g) {
    if (g.B.kn || g.B.ld != g.K) return GemmImpl<VecAvx512>::Run(pool, g);
    QuantAct a;
    a.nb = g.K / 32;
    a.stride = QuantAct::RowBytes(g.K);
    a.base = static_cast<uint8_t*>(ThreadScratch(ScratchSlot::kQuantX, static_cast<size_t>(g.M * a.stride)));
    pool.ParallelFor(g.M, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t m = r0; m < r1; ++m) a.QuantizeRow(m, g.A + m * g.lda);
    });
    auto run = [&](auto tag) {
      constexpr DType D = decltype(tag)::value;
      GemmImpl<VecAvx512>::ForBlocks(pool, g, [&](int64_t n0, int64_t m0, int64_t m1) { Task<D>(g, a, n0, m0, m1); });
    };
    switch (g.B.dtype) {
      case DType::kQ8_0: run(std::integral_constant<DType, DType::kQ8_0>{}); break;
      case DType::kQ4_0: run(std::integral_constant<DType, DType::kQ4_0>{}); break;
      default: run(std::integral_constant<DType, DType::kQ4_K>{}); break;
    }
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
