// Generic scaled dot-product attention over a vector-traits type V. Included only by the per-ISA
// translation units (unnamed namespace: one copy per ISA).
//
// Many queries (ViT, prefill; Tq >= kBlockedMinTq): per head and block of up to kQueryBlock query
//   rows, S = scale·Q·Kᵀ and O = softmax(S)·V are two calls of the blocked GEMM (which parallelises
//   over the pool), with a parallel f32 softmax in between. With causal masking each block only
//   computes the key columns its last row can see.
// Few queries (decode): one pool task per (query, head): SIMD dot products against every visible
//   key, f32 softmax, then an axpy over the value rows.
#pragma once

#include <cstdint>

#include "kernels/gemm_impl.h"
#include "kernels/rowops_impl.h"
#include "kernels/scratch.h"

namespace dsvl::kernels::simd {
namespace {

template <class V>
struct AttentionImpl {
  using F = typename V::F;
  using Gemm = GemmImpl<V>;
  using Rows = RowImpl<V>;
  static constexpr int W = V::kLanes;
  static constexpr int64_t kBlockedMinTq = 8;
  static constexpr int64_t kQueryBlock = 256;

  static int64_t Visible(const AttentionArgs& a, int64_t i) {
    return a.causal ? MaxI(0, MinI(a.Tk, i + (a.Tk - a.Tq) + 1)) : a.Tk;
  }

  static float Dot(const float* x, const float* y, int64_t n) {
    F a0 = V::Zero(), a1 = V::Zero();
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      a0 = V::Fma(V::Load(x + i), V::Load(y + i), a0);
      a1 = V::Fma(V::Load(x + i + W), V::Load(y + i + W), a1);
    }
    for (; i + W <= n; i += W) a0 = V::Fma(V::Load(x + i), V::Load(y + i), a0);
    float s = V::Sum(V::Add(a0, a1));
    for (; i < n; ++i) s += x[i] * y[i];
    return s;
  }

  static void Axpy(float a, const float* x, float* y, int64_t n) {
    const F va = V::Set1(a);
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(y + i, V::Fma(va, V::Load(x + i), V::Load(y + i)));
    for (; i < n; ++i) y[i] += a * x[i];
  }

  static void Blocked(ThreadPool& pool, const AttentionArgs& a) {
    const int64_t group = a.Hq / a.Hkv;
    for (int64_t h = 0; h < a.Hq; ++h) {
      const int64_t hk = h / group;
      for (int64_t i0 = 0; i0 < a.Tq; i0 += kQueryBlock) {
        const int64_t rows = MinI(kQueryBlock, a.Tq - i0);
        const int64_t kv = Visible(a, i0 + rows - 1);  // widest row of the block
        float* out = a.out + i0 * a.ldo + h * a.Dv;
        if (kv == 0) {
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < a.Dv; ++c) out[r * a.ldo + c] = __builtin_nanf("");  // 0/0, as the reference
          continue;
        }
        float* S = ThreadScratchAs<float>(ScratchSlot::kScores, static_cast<size_t>(rows * kv));
        GemmArgs s;
        s.M = rows; s.N = kv; s.K = a.Dk;
        s.A = a.q + i0 * a.ldq + h * a.Dk; s.lda = a.ldq;
        s.B = MatB{a.k + hk * a.Dk, DType::kF32, a.ldk, false};
        s.C = S; s.ldc = kv; s.alpha = a.scale;
        Gemm::Run(pool, s);
        pool.ParallelFor(rows, 8, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            float* srow = S + r * kv;
            const int64_t vis = Visible(a, i0 + r);
            if (vis == 0) {
              for (int64_t j = 0; j < kv; ++j) srow[j] = __builtin_nanf("");
              continue;
            }
            Rows::Softmax(srow, vis);
            for (int64_t j = vis; j < kv; ++j) srow[j] = 0.0f;
          }
        });
        GemmArgs o;
        o.M = rows; o.N = a.Dv; o.K = kv;
        o.A = S; o.lda = kv;
        o.B = MatB{a.v + hk * a.Dv, DType::kF32, a.ldv, true};
        o.C = out; o.ldc = a.ldo;
        Gemm::Run(pool, o);
      }
    }
  }

  static void Decode(ThreadPool& pool, const AttentionArgs& a) {
    const int64_t group = a.Hq / a.Hkv;
    pool.ParallelFor(a.Tq * a.Hq, 1, [&](int64_t b, int64_t e) {
      float* s = ThreadScratchAs<float>(ScratchSlot::kScores, static_cast<size_t>(a.Tk > 0 ? a.Tk : 1));
      for (int64_t idx = b; idx < e; ++idx) {
        const int64_t i = idx / a.Hq, h = idx % a.Hq, hk = h / group;
        const int64_t vis = Visible(a, i);
        const float* q = a.q + i * a.ldq + h * a.Dk;
        float* o = a.out + i * a.ldo + h * a.Dv;
        if (vis == 0) {
          for (int64_t c = 0; c < a.Dv; ++c) o[c] = __builtin_nanf("");
          continue;
        }
        for (int64_t j = 0; j < vis; ++j) s[j] = Dot(q, a.k + j * a.ldk + hk * a.Dk, a.Dk) * a.scale;
        const float mx = Rows::MaxOf(s, vis);
        const float sum = Rows::ExpShiftSum(s, vis, mx);
        for (int64_t c = 0; c < a.Dv; ++c) o[c] = 0.0f;
        for (int64_t j = 0; j < vis; ++j) Axpy(s[j], a.v + j * a.ldv + hk * a.Dv, o, a.Dv);
        Rows::Scale(o, a.Dv, 1.0f / sum);
      }
    });
  }

  static void Run(ThreadPool& pool, const AttentionArgs& a) {
    if (a.Tq <= 0 || a.Hq <= 0) return;
    if (a.Tq >= kBlockedMinTq) Blocked(pool, a);
    else Decode(pool, a);
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
