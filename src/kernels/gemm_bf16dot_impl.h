// Blocked GEMM over bf16 weights with a bf16 pair dot-product instruction (vdpbf16ps), generic over
// the same dot traits D as gemv_bf16dot_impl.h (plus D::Broadcast32 and D::Round32) and the f32 vector traits V
// whose blocking (MR, NC) and epilogue it shares with GemmImpl<V>.
//
// Only with GemmArgs::bf16_activations (opt-in, Bf16ActivationsEnabled() in isa.h): the activations
// are rounded to bf16 once (round to nearest even) and used as a single term. That doubles the
// multiply-adds per instruction over f32 FMA, which is the point of the instruction, at the cost of
// a 2^-9 relative rounding of each activation — the rounding the official PyTorch code applies to
// every activation of a bf16 checkpoint. Products are exact and accumulate in f32. Used only by the
// AVX512-BF16 variant (see PreferBf16Dot() in isa.h).
//
// Layout: a pair word holds bf16 values k = 2j, 2j+1 (low half first, as vdpbf16ps pairs them).
//   Weight panel: [kc/2][NR] pair words, so a row of NR columns for one j is two Bh vectors; it is a
//   32-bit transpose of the weight rows, done with GemmImpl's 8x8 register transpose.
//   Activation tile: [MR][kc/2] pair words, i.e. each row converted to bf16 in order.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/tensor.h"
#include "kernels/gemm_impl.h"
#include "kernels/gemv_bf16dot_impl.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"

namespace dsvl::kernels::simd {
namespace {

template <class D, class V>
struct Bf16DotGemm {
  using G = GemmImpl<V>;
  using F = typename V::F;
  static_assert(sizeof(typename D::Acc) == sizeof(F), "dot accumulators must be V vectors");
  static constexpr int W = V::kLanes;
  static constexpr int MR = G::MR;
  static constexpr int NR = G::NR;
  static constexpr int64_t NC = G::NC;
  static constexpr int64_t KC = G::KC;  // bf16 values per K block: KC/2 pair words

  // A GEMM (not GEMV) over bf16 [N, K] weights in the bf16-activation mode.
  static bool RoundsActivations(const GemmArgs& g) {
    return g.bf16_activations && g.B.dtype == DType::kBF16 && !g.B.kn && g.M > kGemvMaxM && g.K > 0 && g.N > 0;
  }
  // The weights can be read as pair words only when every row starts at an even element.
  static bool Applies(const GemmArgs& g) { return RoundsActivations(g) && g.B.ld % 2 == 0; }

  static uint32_t PairWord(const uint16_t* p, int64_t k, int64_t K) {
    const uint32_t lo = p[k], hi = k + 1 < K ? p[k + 1] : 0;
    return lo | (hi << 16);
  }

  // Panel of weight rows n0..n0+nc (zero past nc), K range [k0, k0 + kc): P[(p*kp + j)*NR + i].
  static void PackB(const MatB& B, int64_t n0, int64_t nc, int64_t k0, int64_t kc, uint32_t* P) {
    const int64_t kp = (kc + 1) / 2, kp8 = kc / 16 * 8;  // pair words; those in full 8-word blocks
    const auto* w = static_cast<const uint16_t*>(B.data);
    const int64_t ldw = B.ld / 2;  // row stride in pair words
    const int64_t panels = CeilDiv(nc, NR);
    for (int64_t p = 0; p < panels; ++p) {
      uint32_t* dst = P + p * kp * NR;
      const int64_t cols = MinI(NR, nc - p * NR), rows8 = cols / 8 * 8;
      const int64_t row0 = n0 + p * NR;
      // Pair words are 32-bit lanes: the f32 8x8 transpose moves them unchanged.
      const void* words = w + row0 * B.ld + k0;
      for (int64_t j = 0; j < rows8; j += 8)
        for (int64_t t = 0; t < kp8; t += 8)
          G::template PackBlock8x8<DType::kF32>(words, j * ldw + t, ldw, reinterpret_cast<float*>(dst + t * NR + j));
      for (int64_t j = 0; j < NR; ++j) {
        uint32_t* d = dst + j;
        if (j >= cols) {
          for (int64_t t = 0; t < kp; ++t) d[t * NR] = 0;
          continue;
        }
        const uint16_t* row = w + (row0 + j) * B.ld + k0;
        for (int64_t t = j < rows8 ? kp8 : 0; t < kp; ++t) d[t * NR] = PairWord(row, 2 * t, kc);
      }
    }
  }

  // Rows m..m+mr of A over [k0, k0 + kc) rounded to bf16, zero rows past mr and a zero pad for odd kc.
  static void PackA(const GemmArgs& g, int64_t m, int64_t mr, int64_t k0, int64_t kc, uint32_t* a) {
    const int64_t kp = (kc + 1) / 2;
    for (int64_t i = 0; i < MR; ++i) {
      auto* row = reinterpret_cast<uint16_t*>(a + i * kp);
      if (i >= mr) {
        std::memset(row, 0, static_cast<size_t>(kp) * 4);
        continue;
      }
      const float* x = g.A + (m + i) * g.lda + k0;
      int64_t k = 0;
      for (; k + 32 <= kc; k += 32) D::Round32(x + k, row + k);
      for (; k < kc; ++k) row[k] = F32ToBf16(x[k]);
      if (kc % 2) row[kc] = 0;
    }
  }

  static void Tile(int64_t kp, const uint32_t* a, const uint32_t* bp, float* c, int64_t ldc, int64_t mr, int64_t nr,
                   bool first, const float* bias, float alpha, float beta) {
    typename D::Acc acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = D::Zero();
    for (int64_t j = 0; j < kp; ++j) {
      const typename D::Bh b0 = D::LoadBh(reinterpret_cast<const uint16_t*>(bp)),
                           b1 = D::LoadBh(reinterpret_cast<const uint16_t*>(bp + W));
      bp += NR;
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const typename D::Bh ai = D::Broadcast32(a[i * kp + j]);
        acc0[i] = D::Dot(acc0[i], ai, b0);
        acc1[i] = D::Dot(acc1[i], ai, b1);
      }
    }
    G::Epilogue(acc0, acc1, c, ldc, mr, nr, first, bias, alpha, beta);
  }

  static void Task(const GemmArgs& g, int64_t n0, int64_t m0, int64_t m1) {
    const int64_t nc = MinI(NC, g.N - n0);
    const int64_t kpmax = KC / 2;
    uint32_t* P = ThreadScratchAs<uint32_t>(ScratchSlot::kPackB, static_cast<size_t>(kpmax * NC));
    uint32_t* a = ThreadScratchAs<uint32_t>(ScratchSlot::kTileA, static_cast<size_t>(MR * kpmax));
    const int64_t panels = CeilDiv(nc, NR);
    for (int64_t k0 = 0; k0 < g.K; k0 += KC) {
      const int64_t kc = MinI(KC, g.K - k0), kp = (kc + 1) / 2;
      PackB(g.B, n0, nc, k0, kc, P);
      for (int64_t m = m0; m < m1; m += MR) {
        const int64_t mr = MinI(MR, m1 - m);
        PackA(g, m, mr, k0, kc, a);
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t ncol = n0 + p * NR;
          Tile(kp, a, P + p * kp * NR, g.C + m * g.ldc + ncol, g.ldc, mr, MinI(NR, g.N - ncol), k0 == 0,
               g.bias ? g.bias + ncol : nullptr, g.alpha, g.beta);
        }
      }
    }
  }

  static void Run(ThreadPool& pool, const GemmArgs& g) {
    G::ForBlocks(pool, g, [&g](int64_t n0, int64_t m0, int64_t m1) { Task(g, n0, m0, m1); });
  }
};

// GEMM entry of the AVX512-BF16 variant: bf16 weights go to the dot GEMV (decode shapes) or, with
// bf16 activations, the dot GEMM; everything else to the widening kernels.
template <class D, class V>
void Bf16DotGemmEntry(ThreadPool& pool, const GemmArgs& g) {
  if (Bf16DotGemm<D, V>::Applies(g)) {
    Bf16DotGemm<D, V>::Run(pool, g);
    return;
  }
  if (Bf16DotGemm<D, V>::RoundsActivations(g)) {
    // Weight rows at odd elements (never in the models): the widening GEMM on rounded activations,
    // so the numerics are the same as everywhere else in this mode.
    float* a = ThreadScratchAs<float>(ScratchSlot::kRoundedA, static_cast<size_t>(g.M * g.K));
    for (int64_t m = 0; m < g.M; ++m)
      for (int64_t k = 0; k < g.K; ++k) a[m * g.K + k] = RoundToBf16(g.A[m * g.lda + k]);
    GemmArgs r = g;
    r.A = a;
    r.lda = g.K;
    GemmImpl<V>::Run(pool, r);
    return;
  }
  Bf16DotGemv<D, V>::Gemm(pool, g);
}

}  // namespace
}  // namespace dsvl::kernels::simd
