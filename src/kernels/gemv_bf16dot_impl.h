// GEMV over bf16 weights with a bf16 pair dot-product instruction (vdpbf16ps), generic over a
// traits type D: D::Bh holds 32 bf16, D::Acc 16 f32 lanes, D::Dot(acc, x, w) adds
// x[2i]·w[2i] + x[2i+1]·w[2i+1] into lane i. Included by kernels_avx512bf16.cpp (and by the tests'
// SIMDe-emulated copy of that variant).
//
// To keep f32 accuracy the activations are split once per call into three bf16 terms
// x = hi + mid + lo (each the round-to-nearest bf16 of the remainder, so |x - hi - mid - lo| <=
// 2^-27·|x|); bf16 x bf16 products are exact in f32, so the result differs from the widening path
// only by f32 summation order. With GemmArgs::bf16_activations (opt-in) x is rounded to bf16 and
// used as one term, as the bf16-dot GEMM does, so decode and prefill share one numerics.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/tensor.h"
#include "kernels/gemm_impl.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"

namespace dsvl::kernels::simd {
namespace {

// V: the f32 vector traits used for the epilogue (GemmImpl<V>::Finish).
template <class D, class V>
struct Bf16DotGemv {
  static constexpr int64_t kStep = 32;  // bf16 values per D::Bh

  // xs[(m*T + t)*k32 + k] = term t of x[m][k], for k < k32. T = 3: the f32-accurate split; T = 1:
  // x rounded to bf16 (GemmArgs::bf16_activations).
  template <int T>
  static void Split(const GemmArgs& g, int64_t k32, uint16_t* xs) {
    for (int64_t m = 0; m < g.M; ++m) {
      const float* x = g.A + m * g.lda;
      uint16_t* t0 = xs + (m * T) * k32;
      for (int64_t k = 0; k < k32; ++k) {
        float r = x[k];
        for (int t = 0; t < T; ++t) {
          const uint16_t b = F32ToBf16(r);
          t0[t * k32 + k] = b;
          r -= Bf16Bits(b);
        }
      }
    }
  }

  template <int T, int MT, int NW>
  static void Block(const GemmArgs& g, const uint16_t* xs, int64_t k32, int64_t m0, int64_t n) {
    const uint16_t* w = static_cast<const uint16_t*>(g.B.data);
    const int64_t ld = g.B.ld;
    typename D::Acc acc[MT][NW];
    for (int m = 0; m < MT; ++m)
      for (int r = 0; r < NW; ++r) acc[m][r] = D::Zero();
    // Prefetch the next step's rows (see GemmImpl::GemvBlock: rows are often one 4 KiB page).
    const uint16_t* next = w + (n + NW) * ld;
    const bool prefetch = n + 2 * NW <= g.N;
    for (int64_t k = 0; k < k32; k += kStep) {
      if (prefetch)
        for (int r = 0; r < NW; ++r) _mm_prefetch(reinterpret_cast<const char*>(next + r * ld + k), _MM_HINT_T0);
      typename D::Bh wv[NW];
#pragma GCC unroll 4
      for (int r = 0; r < NW; ++r) wv[r] = D::LoadBh(w + (n + r) * ld + k);
#pragma GCC unroll 4
      for (int m = 0; m < MT; ++m) {
#pragma GCC unroll 3
        for (int t = 0; t < T; ++t) {
          const typename D::Bh xv = D::LoadBh(xs + ((m0 + m) * T + t) * k32 + k);
#pragma GCC unroll 4
          for (int r = 0; r < NW; ++r) acc[m][r] = D::Dot(acc[m][r], xv, wv[r]);
        }
      }
    }
    for (int m = 0; m < MT; ++m)
      for (int r = 0; r < NW; ++r) {
        float s = D::Sum(acc[m][r]);
        const float* x = g.A + (m0 + m) * g.lda;
        for (int64_t k = k32; k < g.K; ++k) s += (T == 1 ? RoundToBf16(x[k]) : x[k]) * Bf16Bits(w[(n + r) * ld + k]);
        g.C[(m0 + m) * g.ldc + n + r] = GemmImpl<V>::Finish(g, s, m0 + m, n + r);
      }
  }

  template <int T, int MT>
  static void Range(const GemmArgs& g, const uint16_t* xs, int64_t k32, int64_t m0, int64_t n0, int64_t n1) {
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) Block<T, MT, 4>(g, xs, k32, m0, n);
    for (; n < n1; ++n) Block<T, MT, 1>(g, xs, k32, m0, n);
  }

  template <int T>
  static void Run(ThreadPool& pool, const GemmArgs& g) {
    const int64_t k32 = g.K / kStep * kStep;
    uint16_t* xs = ThreadScratchAs<uint16_t>(ScratchSlot::kSplitX,
                                             static_cast<size_t>(g.M * T * (k32 > 0 ? k32 : 1)));
    Split<T>(g, k32, xs);
    const int64_t groups = CeilDiv(g.N, 4);  // >= 256 KiB of weights per task, as GemmImpl::Gemv
    pool.ParallelFor(groups, MaxI(1, (int64_t{256} << 10) / MaxI(1, 8 * g.K)), [&](int64_t b, int64_t e) {
      const int64_t n0 = b * 4, n1 = MinI(g.N, e * 4);
      for (int64_t m0 = 0; m0 < g.M; m0 += 4) {
        switch (MinI(4, g.M - m0)) {
          case 1: Range<T, 1>(g, xs, k32, m0, n0, n1); break;
          case 2: Range<T, 2>(g, xs, k32, m0, n0, n1); break;
          case 3: Range<T, 3>(g, xs, k32, m0, n0, n1); break;
          default: Range<T, 4>(g, xs, k32, m0, n0, n1); break;
        }
      }
    });
  }

  // The GEMM entry of a variant with this GEMV: bf16 decode-shaped calls go to the dot path,
  // everything else to the widening kernels.
  static void Gemm(ThreadPool& pool, const GemmArgs& g) {
    if (g.M > 0 && g.N > 0 && g.K > 0 && g.M <= kGemvMaxM && !g.B.kn && g.B.dtype == DType::kBF16) {
      g.bf16_activations ? Run<1>(pool, g) : Run<3>(pool, g);
      return;
    }
    GemmImpl<V>::Run(pool, g);
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
