// Generic GEMV / blocked GEMM over a vector-traits type V (VecAvx2, VecAvx512). Included only by the
// per-ISA translation units; everything lives in an unnamed namespace so each ISA gets its own copy.
//
// GEMV (M <= kGemvMaxM, decode): W is streamed once; each task owns a range of output columns (rows
//   of W), loads 4 rows of W per step (2 or 1 where registers are short), widens them to f32 in
//   registers and FMAs them with up to 4 activation rows, so W is read once per 4 activation rows.
//   Every output element gets the same arithmetic whatever M (two FMA chains over alternating
//   vectors of K, then the same reduction and tail), so a row's result does not depend on the
//   other rows of the call: batched decoding stacks several sequences' rows bitwise-safely.
// GEMM (prefill, ViT): per task a block of NC output columns x a block of M rows. For each K block
//   of KC the task widens/packs W[NC, KC] into a [NC/NR][KC][NR] f32 panel (per-thread scratch,
//   8x8 register transposes), then runs an MR x NR register-tiled micro-kernel (MR rows x 2
//   vectors, A broadcast straight from the activation rows) over it. Quantised weights are
//   dequantised into the same panels (PackQuantB), so the GEMM keeps f32 activations.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/dequant_avx2.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"
#include "kernels/vec_avx2.h"

namespace dsvl::kernels::simd {
namespace {

inline int64_t MinI(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t MaxI(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline float MaxF(float a, float b) { return a > b ? a : b; }

inline float Bf16Bits(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

constexpr int64_t kGemvMaxM = 4;

template <class V>
struct GemmImpl {
  using F = typename V::F;
  static constexpr int W = V::kLanes;
  static constexpr int MR = V::kMR;
  static constexpr int NR = 2 * W;
  static constexpr int64_t NC = V::kNC;
  // K block: the packed panel (KC x NC f32: 128 KiB AVX2, 256 KiB AVX-512) stays in L2 and the
  // MR x KC activation tile in L1; 512 measured a few % faster than 256 on Zen 3 (fewer C passes).
  static constexpr int64_t KC = 512;

  template <DType D>
  static F LoadW(const void* base, int64_t idx) {
    if constexpr (D == DType::kF32) return V::Load(static_cast<const float*>(base) + idx);
    else if constexpr (D == DType::kBF16) return V::LoadBf16(static_cast<const uint16_t*>(base) + idx);
    else return V::LoadF16(static_cast<const uint16_t*>(base) + idx);
  }
  template <DType D>
  static float ScalarW(const void* base, int64_t idx) {
    if constexpr (D == DType::kF32) return static_cast<const float*>(base)[idx];
    else if constexpr (D == DType::kBF16) return Bf16Bits(static_cast<const uint16_t*>(base)[idx]);
    else return _cvtsh_ss(static_cast<const uint16_t*>(base)[idx]);
  }

  static float Finish(const GemmArgs& g, float dot, int64_t m, int64_t n) {
    float v = g.alpha * dot;
    if (g.beta != 0.0f) v += g.beta * g.C[m * g.ldc + n];
    if (g.bias) v += g.bias[n];
    return v;
  }

  // ---- GEMV: MT activation rows x NW weight rows per step; KU-way unrolled K loop (two FMA chains
  // per output, enough independent chains to hide latency at MT == 1). KU is the same for every MT
  // so that an output's summation order never depends on how many rows share the call.
  static constexpr int KU = 2;
  template <DType D, int MT, int NW>
  static void GemvBlock(const GemmArgs& g, int64_t m0, int64_t n) {
    const int64_t K = g.K, ld = g.B.ld;
    const float* x = g.A + m0 * g.lda;
    F acc[KU][MT][NW];
    for (int u = 0; u < KU; ++u)
      for (int m = 0; m < MT; ++m)
        for (int r = 0; r < NW; ++r) acc[u][m][r] = V::Zero();
    // Software prefetch of the next step's weight rows at the same K offset: rows are often exactly
    // one 4 KiB page (K = 2048 bf16), and hardware prefetchers stop at page boundaries.
    constexpr int64_t kElemBytes = D == DType::kF32 ? 4 : 2;
    const char* next = static_cast<const char*>(g.B.data) + (n + NW) * ld * kElemBytes;
    const bool prefetch = n + 2 * NW <= g.N;
    int64_t k = 0;
    for (; k + KU * W <= K; k += KU * W) {
      if (prefetch)
        for (int r = 0; r < NW; ++r) _mm_prefetch(next + (r * ld + k) * kElemBytes, _MM_HINT_T0);
#pragma GCC unroll 2
      for (int u = 0; u < KU; ++u) {
        F w[NW];
#pragma GCC unroll 4
        for (int r = 0; r < NW; ++r) w[r] = LoadW<D>(g.B.data, (n + r) * ld + k + u * W);
#pragma GCC unroll 4
        for (int m = 0; m < MT; ++m) {
          F xv = V::Load(x + m * g.lda + k + u * W);
#pragma GCC unroll 4
          for (int r = 0; r < NW; ++r) acc[u][m][r] = V::Fma(xv, w[r], acc[u][m][r]);
        }
      }
    }
    for (; k + W <= K; k += W) {
      F w[NW];
      for (int r = 0; r < NW; ++r) w[r] = LoadW<D>(g.B.data, (n + r) * ld + k);
      for (int m = 0; m < MT; ++m) {
        F xv = V::Load(x + m * g.lda + k);
        for (int r = 0; r < NW; ++r) acc[0][m][r] = V::Fma(xv, w[r], acc[0][m][r]);
      }
    }
    for (int m = 0; m < MT; ++m)
      for (int r = 0; r < NW; ++r) {
        F a = acc[0][m][r];
        for (int u = 1; u < KU; ++u) a = V::Add(a, acc[u][m][r]);
        float s = V::Sum(a);
        for (int64_t kk = k; kk < K; ++kk) s += x[m * g.lda + kk] * ScalarW<D>(g.B.data, (n + r) * ld + kk);
        g.C[(m0 + m) * g.ldc + n + r] = Finish(g, s, m0 + m, n + r);
      }
  }

  // Weight rows per GEMV step: the most of 4, 2, 1 whose KU x MT x NW accumulators + NW weights + 1
  // activation fit in the register file (AVX2: 4, 2, 2 for MT = 1..3, MT = 4 runs as 2 + 2;
  // AVX-512: 4, 4, 4, 2).
  static constexpr bool GemvFits(int mt, int nw) { return KU * mt * nw + nw + 1 <= V::kRegs; }
  static constexpr int GemvRowsPerStep(int mt) { return GemvFits(mt, 4) ? 4 : GemvFits(mt, 2) ? 2 : 1; }

  template <DType D, int MT>
  static void GemvRange(const GemmArgs& g, int64_t m0, int64_t n0, int64_t n1) {
    if constexpr (MT > 2 && !GemvFits(MT, 2)) {
      // Too few registers for two weight rows at this MT (AVX2, MT = 4): two half-height blocks
      // over the same weight rows, the second reading them from L1 (M = 4 on a 64 MiB bf16 weight,
      // 2 threads: 12.5-13.4 ms vs 13.8-15.8 ms with one weight row per step; the former one-chain
      // kernel took 10.4-11.0 ms). Outputs are unchanged: each is computed the same way whatever MT.
      constexpr int MA = MT / 2, MB = MT - MA, NW = GemvRowsPerStep(MB);
      int64_t n = n0;
      for (; n + NW <= n1; n += NW) {
        GemvBlock<D, MA, NW>(g, m0, n);
        GemvBlock<D, MB, NW>(g, m0 + MA, n);
      }
      for (; n < n1; ++n) {
        GemvBlock<D, MA, 1>(g, m0, n);
        GemvBlock<D, MB, 1>(g, m0 + MA, n);
      }
    } else {
      constexpr int NW = GemvRowsPerStep(MT);
      int64_t n = n0;
      for (; n + NW <= n1; n += NW) GemvBlock<D, MT, NW>(g, m0, n);
      for (; n < n1; ++n) GemvBlock<D, MT, 1>(g, m0, n);
    }
  }

  template <DType D>
  static void Gemv(ThreadPool& pool, const GemmArgs& g) {
    // Tasks own groups of 4 weight rows, at least 256 KiB of weights per task, so that waking a
    // thread (microseconds) stays small next to the streaming it buys.
    const int64_t groups = CeilDiv(g.N, 4);
    const int64_t group_bytes = 4 * g.K * (D == DType::kF32 ? 4 : 2);
    pool.ParallelFor(groups, MaxI(1, (int64_t{256} << 10) / MaxI(1, group_bytes)), [&](int64_t b, int64_t e) {
      const int64_t n0 = b * 4, n1 = MinI(g.N, e * 4);
      for (int64_t m0 = 0; m0 < g.M; m0 += 4) {
        switch (MinI(4, g.M - m0)) {
          case 1: GemvRange<D, 1>(g, m0, n0, n1); break;
          case 2: GemvRange<D, 2>(g, m0, n0, n1); break;
          case 3: GemvRange<D, 3>(g, m0, n0, n1); break;
          default: GemvRange<D, 4>(g, m0, n0, n1); break;
        }
      }
    });
  }

  // ---- GEMM
  // Packs op(B)[n0:n0+nc, k0:k0+kc] widened to f32 as ceil(nc/NR) panels of [kc][NR], zero-padded
  // past nc.
  template <DType D>
  static void PackB(const MatB& B, int64_t n0, int64_t nc, int64_t k0, int64_t kc, float* P) {
    if constexpr (IsQuantized(D) || IsInterleavedQuant(D)) PackQuantB<D>(B, n0, nc, k0, kc, P);
    else PackPlainB<D>(B, n0, nc, k0, kc, P);
  }

  // Quantised [N, K] weights (k0 and kc whole blocks, as K and KC are): each panel's rows are
  // dequantised to f32 (dequant_avx2.h) into scratch, then transposed 8 x 8 like plain f32 rows.
  template <DType D>
  static void PackQuantB(const MatB& B, int64_t n0, int64_t nc, int64_t k0, int64_t kc, float* P) {
    const int64_t row_bytes = static_cast<int64_t>(DTypeBytes(D, B.ld));
    float* rows = ThreadScratchAs<float>(ScratchSlot::kDequantB, static_cast<size_t>(NR * kc));
    const int64_t panels = CeilDiv(nc, NR);
    for (int64_t p = 0; p < panels; ++p) {
      float* dst = P + p * kc * NR;
      const int64_t cols = MinI(NR, nc - p * NR);
      if constexpr (IsInterleavedQuant(D)) {
        // Each row is first taken out of its group of 8 as plain blocks, then widened as those.
        constexpr DType kPlain = PlainQuantType(D);
        constexpr int64_t kSuper = kPlain == DType::kQ4_K ? 8 : 1;  // blocks of 32 per stored block
        const int64_t sb0 = k0 / 32 / kSuper, sb1 = CeilDiv((k0 + kc) / 32, kSuper);
        uint8_t* plain = ThreadScratchAs<uint8_t>(ScratchSlot::kDequantRow,
                                                  static_cast<size_t>(DTypeBytes(kPlain, (sb1 - sb0) * 32 * kSuper)));
        for (int64_t j = 0; j < cols; ++j) {
          quant::ExtractInterleavedRow(D, B.data, B.ld, n0 + p * NR + j, sb0, sb1 - sb0, plain);
          DequantBlocks<kPlain>(plain, k0 / 32 - sb0 * kSuper, kc / 32, rows + j * kc);
        }
      } else {
        const uint8_t* src = static_cast<const uint8_t*>(B.data) + (n0 + p * NR) * row_bytes;
        for (int64_t j = 0; j < cols; ++j) DequantBlocks<D>(src + j * row_bytes, k0 / 32, kc / 32, rows + j * kc);
      }
      const int64_t rows8 = cols / 8 * 8;
      for (int64_t j = 0; j < rows8; j += 8)
        for (int64_t k = 0; k < kc; k += 8) PackBlock8x8<DType::kF32>(rows, j * kc + k, kc, dst + k * NR + j);
      for (int64_t j = rows8; j < NR; ++j)
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = j < cols ? rows[j * kc + k] : 0.0f;
    }
  }

  template <DType D>
  static void PackPlainB(const MatB& B, int64_t n0, int64_t nc, int64_t k0, int64_t kc, float* P) {
    const int64_t panels = CeilDiv(nc, NR);
    for (int64_t p = 0; p < panels; ++p) {
      float* dst = P + p * kc * NR;
      const int64_t cols = MinI(NR, nc - p * NR);
      if (B.kn) {
        // [K, N] source: each k is a contiguous run of `cols` values.
        const int64_t src = k0 * B.ld + n0 + p * NR;
        for (int64_t k = 0; k < kc; ++k) {
          const int64_t s = src + k * B.ld;
          float* d = dst + k * NR;
          if (cols == NR) {
            V::Store(d, LoadW<D>(B.data, s));
            V::Store(d + W, LoadW<D>(B.data, s + W));
          } else {
            for (int64_t j = 0; j < cols; ++j) d[j] = ScalarW<D>(B.data, s + j);
            for (int64_t j = cols; j < NR; ++j) d[j] = 0.0f;
          }
        }
        continue;
      }
      // [N, K] source: row n of B becomes column j of the panel. Full 8-row x 8-k blocks are
      // widened and transposed in ymm registers (AVX2 is present under every SIMD variant);
      // row and k tails go element by element.
      const int64_t rows8 = cols / 8 * 8, k8 = kc / 8 * 8;
      const int64_t row0 = (n0 + p * NR) * B.ld + k0;
      for (int64_t j = 0; j < rows8; j += 8)
        for (int64_t k = 0; k < k8; k += 8) PackBlock8x8<D>(B.data, row0 + j * B.ld + k, B.ld, dst + k * NR + j);
      for (int64_t j = 0; j < NR; ++j) {
        float* d = dst + j;
        if (j >= cols) {
          for (int64_t k = 0; k < kc; ++k) d[k * NR] = 0.0f;
          continue;
        }
        const int64_t row = row0 + j * B.ld;
        for (int64_t k = j < rows8 ? k8 : 0; k < kc; ++k) d[k * NR] = ScalarW<D>(B.data, row + k);
      }
    }
  }

  // dst[t*NR + i] = widen(B[src + i*ld + t]) for i, t < 8.
  template <DType D>
  static void PackBlock8x8(const void* base, int64_t src, int64_t ld, float* dst) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) {
      if constexpr (D == DType::kF32) r[i] = VecAvx2::Load(static_cast<const float*>(base) + src + i * ld);
      else if constexpr (D == DType::kBF16) r[i] = VecAvx2::LoadBf16(static_cast<const uint16_t*>(base) + src + i * ld);
      else r[i] = VecAvx2::LoadF16(static_cast<const uint16_t*>(base) + src + i * ld);
    }
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
  }

  // One MR x NR tile of C over a K block: acc = A[0:MR, 0:kc] · panel, then the epilogue. `first`
  // marks the first K block (applies beta and bias; later blocks accumulate into C).
  static void Tile(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc,
                   int64_t mr, int64_t nr, bool first, const float* bias, float alpha, float beta) {
    F acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = V::Zero();
    for (int64_t k = 0; k < kc; ++k) {
      const F b0 = V::Load(bp), b1 = V::Load(bp + W);
      bp += NR;
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const F ai = V::Set1(a[i * lda + k]);
        acc0[i] = V::Fma(ai, b0, acc0[i]);
        acc1[i] = V::Fma(ai, b1, acc1[i]);
      }
    }
    Epilogue(acc0, acc1, c, ldc, mr, nr, first, bias, alpha, beta);
  }

  // Writes an MR x NR accumulator tile (rows acc0 | acc1) to C: alpha·acc (+ beta·C + bias on the
  // first K block, + C on later ones); only the top-left mr x nr part when the tile is partial.
  static void Epilogue(const F* acc0, const F* acc1, float* c, int64_t ldc, int64_t mr, int64_t nr, bool first,
                       const float* bias, float alpha, float beta) {
    const F va = V::Set1(alpha);
    if (mr == MR && nr == NR) {
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        float* cr = c + i * ldc;
        if (first) {
          F r0 = V::Mul(va, acc0[i]), r1 = V::Mul(va, acc1[i]);
          if (beta != 0.0f) {
            r0 = V::Fma(V::Set1(beta), V::Load(cr), r0);
            r1 = V::Fma(V::Set1(beta), V::Load(cr + W), r1);
          }
          if (bias) {
            r0 = V::Add(r0, V::Load(bias));
            r1 = V::Add(r1, V::Load(bias + W));
          }
          V::Store(cr, r0);
          V::Store(cr + W, r1);
        } else {
          V::Store(cr, V::Fma(va, acc0[i], V::Load(cr)));
          V::Store(cr + W, V::Fma(va, acc1[i], V::Load(cr + W)));
        }
      }
      return;
    }
    alignas(64) float tile[MR * NR];
    for (int i = 0; i < MR; ++i) {
      V::Store(tile + i * NR, acc0[i]);
      V::Store(tile + i * NR + W, acc1[i]);
    }
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; ++j) {
        float* cij = c + i * ldc + j;
        float v = alpha * tile[i * NR + j];
        if (first) {
          if (beta != 0.0f) v += beta * *cij;
          if (bias) v += bias[j];
        } else {
          v += *cij;
        }
        *cij = v;
      }
  }

  // Output block C[m0:m1, n0:n0+NC] over all of K: pack each K block of W once, then sweep the
  // row tiles over it.
  template <DType D>
  static void BlockedTask(const GemmArgs& g, int64_t n0, int64_t m0, int64_t m1) {
    const int64_t nc = MinI(NC, g.N - n0);
    float* P = ThreadScratchAs<float>(ScratchSlot::kPackB, static_cast<size_t>(KC * NC));
    const int64_t panels = CeilDiv(nc, NR);
    for (int64_t k0 = 0; k0 < g.K; k0 += KC) {
      const int64_t kc = MinI(KC, g.K - k0);
      PackB<D>(g.B, n0, nc, k0, kc, P);
      for (int64_t m = m0; m < m1; m += MR) {
        const int64_t mr = MinI(MR, m1 - m);
        const float* a = g.A + m * g.lda + k0;
        int64_t la = g.lda;
        if (mr < MR) {
          float* t = ThreadScratchAs<float>(ScratchSlot::kTileA, static_cast<size_t>(MR * KC));
          for (int64_t i = 0; i < MR; ++i)
            for (int64_t k = 0; k < kc; ++k) t[i * kc + k] = i < mr ? a[i * g.lda + k] : 0.0f;
          a = t;
          la = kc;
        }
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t ncol = n0 + p * NR;
          Tile(kc, a, la, P + p * kc * NR, g.C + m * g.ldc + ncol, g.ldc, mr, MinI(NR, g.N - ncol),
               k0 == 0, g.bias ? g.bias + ncol : nullptr, g.alpha, g.beta);
        }
      }
    }
  }

  template <DType D>
  static void Blocked(ThreadPool& pool, const GemmArgs& g) {
    ForBlocks(pool, g, [&g](int64_t n0, int64_t m0, int64_t m1) { BlockedTask<D>(g, n0, m0, m1); });
  }

  // Runs task(n0, m0, m1) over output blocks of NC columns x a range of rows, in parallel.
  template <class Task>
  static void ForBlocks(ThreadPool& pool, const GemmArgs& g, const Task& task) {
    const int64_t nb = CeilDiv(g.N, NC);
    const int64_t mtiles = CeilDiv(g.M, MR);
    // Enough tasks for dynamic balance (>= 4 per thread); split M only when N alone has too few
    // blocks. Each M split repacks its W block, which costs 1/(2*rows) of the block's FLOPs.
    const int64_t want = 4 * static_cast<int64_t>(pool.size());
    const int64_t msplit = nb >= want ? 1 : MinI(mtiles, CeilDiv(want, nb));
    const int64_t mc = CeilDiv(mtiles, msplit) * MR;
    const int64_t mb = CeilDiv(g.M, mc);
    pool.Run(nb * mb, [&](int64_t t, int) {
      const int64_t m0 = (t % mb) * mc;
      task((t / mb) * NC, m0, MinI(g.M, m0 + mc));
    });
  }

  // Single-threaded GEMM for callers that already run one task per thread (attention).
  static void Serial(const GemmArgs& g) {
    if (g.M <= 0 || g.N <= 0 || g.K <= 0) {
      for (int64_t m = 0; m < g.M; ++m)
        for (int64_t n = 0; n < g.N; ++n) g.C[m * g.ldc + n] = Finish(g, 0.0f, m, n);
      return;
    }
    for (int64_t n0 = 0; n0 < g.N; n0 += NC) {
      switch (g.B.dtype) {
        case DType::kBF16: BlockedTask<DType::kBF16>(g, n0, 0, g.M); break;
        case DType::kF16: BlockedTask<DType::kF16>(g, n0, 0, g.M); break;
        default: BlockedTask<DType::kF32>(g, n0, 0, g.M); break;
      }
    }
  }

  static void Run(ThreadPool& pool, const GemmArgs& g) {
    if (g.M <= 0 || g.N <= 0) return;
    if (g.K == 0) {
      for (int64_t m = 0; m < g.M; ++m)
        for (int64_t n = 0; n < g.N; ++n) g.C[m * g.ldc + n] = Finish(g, 0.0f, m, n);
      return;
    }
    const bool gemv = g.M <= kGemvMaxM && !g.B.kn;
    switch (g.B.dtype) {
      // Quantised weights reach here only for the GEMM (QuantGemmEntry in gemv_quant_impl.h).
      case DType::kQ8_0: Blocked<DType::kQ8_0>(pool, g); break;
      case DType::kQ4_0: Blocked<DType::kQ4_0>(pool, g); break;
      case DType::kQ4_K: Blocked<DType::kQ4_K>(pool, g); break;
      case DType::kQ8_0x8: Blocked<DType::kQ8_0x8>(pool, g); break;
      case DType::kQ4_0x8: Blocked<DType::kQ4_0x8>(pool, g); break;
      case DType::kQ4_Kx8: Blocked<DType::kQ4_Kx8>(pool, g); break;
      case DType::kBF16: gemv ? Gemv<DType::kBF16>(pool, g) : Blocked<DType::kBF16>(pool, g); break;
      case DType::kF16: gemv ? Gemv<DType::kF16>(pool, g) : Blocked<DType::kF16>(pool, g); break;
      default: gemv ? Gemv<DType::kF32>(pool, g) : Blocked<DType::kF32>(pool, g); break;
    }
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
