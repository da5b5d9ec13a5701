// Generic scaled dot-product attention over a vector-traits type V. Included only by the per-ISA
// translation units (unnamed namespace: one copy per ISA).
//
// Many queries (ViT, prefill; Tq >= kBlockedMinTq): one pool task per head and block of query
//   rows (256, or 64 under a causal mask): S = scale·Q·Kᵀ and O = softmax(S)·V with the
//   single-threaded blocked GEMM, f32 softmax in between. With causal masking each block only
//   computes the key columns its last row can see.
// Few queries (decode): flash-decoding over key blocks x KV-head ranges (see Decode), SIMD dot
//   products and axpys, f32 softmax partials merged at the end.
// K and V may be bf16 or f16 (a half-size KV cache): the GEMM packs widen them, and decode widens
//   each K/V vector in registers as it loads it, so the cache is streamed at half the bytes.
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
  // Query rows per task: larger blocks pack K and V fewer times; under a causal mask a block
  // computes scores up to its last row's limit, so smaller blocks waste less (measured on Zen 3).
  static constexpr int64_t kQueryBlock = 256;
  static constexpr int64_t kCausalQueryBlock = 64;

  static int64_t Visible(const AttentionArgs& a, int64_t i) {
    return a.causal ? MaxI(0, MinI(a.Tk, i + (a.Tk - a.Tq) + 1)) : a.Tk;
  }

  // x · kv[e0 .. e0+n) with kv in dtype D.
  template <DType D>
  static float Dot(const float* x, const void* kv, int64_t e0, int64_t n) {
    F a0 = V::Zero(), a1 = V::Zero();
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      a0 = V::Fma(V::Load(x + i), Gemm::template LoadW<D>(kv, e0 + i), a0);
      a1 = V::Fma(V::Load(x + i + W), Gemm::template LoadW<D>(kv, e0 + i + W), a1);
    }
    for (; i + W <= n; i += W) a0 = V::Fma(V::Load(x + i), Gemm::template LoadW<D>(kv, e0 + i), a0);
    float s = V::Sum(V::Add(a0, a1));
    for (; i < n; ++i) s += x[i] * Gemm::template ScalarW<D>(kv, e0 + i);
    return s;
  }

  // out[0 .. n) = kv[e0 .. e0+n) widened to f32.
  template <DType D>
  static void Widen(const void* kv, int64_t e0, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(out + i, Gemm::template LoadW<D>(kv, e0 + i));
    for (; i < n; ++i) out[i] = Gemm::template ScalarW<D>(kv, e0 + i);
  }

  // y += a · kv[e0 .. e0+n) with kv in dtype D.
  template <DType D>
  static void Axpy(float a, const void* kv, int64_t e0, float* y, int64_t n) {
    const F va = V::Set1(a);
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(y + i, V::Fma(va, Gemm::template LoadW<D>(kv, e0 + i), V::Load(y + i)));
    for (; i < n; ++i) y[i] += a * Gemm::template ScalarW<D>(kv, e0 + i);
  }

  // One task per (head, block of query rows): S = scale·Q·Kᵀ into per-thread scratch (block x Tk
  // floats), softmax, O = P·V, all on that thread.
  template <DType D>
  static void Blocked(ThreadPool& pool, const AttentionArgs& a) {
    const int64_t group = a.Hq / a.Hkv;
    const int64_t qb = a.causal ? kCausalQueryBlock : kQueryBlock;
    const int64_t qblocks = CeilDiv(a.Tq, qb);
    pool.Run(a.Hq * qblocks, [&](int64_t task, int) {
      const int64_t h = task / qblocks, hk = h / group;
      const int64_t i0 = (task % qblocks) * qb;
      const int64_t rows = MinI(qb, a.Tq - i0);
      const int64_t kv = Visible(a, i0 + rows - 1);  // widest row of the block
      float* out = a.out + i0 * a.ldo + h * a.Dv;
      if (kv == 0) {
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < a.Dv; ++c) out[r * a.ldo + c] = __builtin_nanf("");  // 0/0, as the reference
        return;
      }
      float* S = ThreadScratchAs<float>(ScratchSlot::kScores, static_cast<size_t>(rows * kv + rows));
      float* inv_sum = S + rows * kv;  // softmax normalisation, applied to O (Dv wide) not P (kv wide)
      GemmArgs s;
      s.M = rows; s.N = kv; s.K = a.Dk;
      s.A = a.q + i0 * a.ldq + h * a.Dk; s.lda = a.ldq;
      s.B = MatB{Offset<D>(a.k, hk * a.Dk), D, a.ldk, false};
      s.C = S; s.ldc = kv; s.alpha = a.scale;
      Gemm::Serial(s);
      for (int64_t r = 0; r < rows; ++r) {
        float* srow = S + r * kv;
        const int64_t vis = Visible(a, i0 + r);
        if (vis == 0) {
          for (int64_t j = 0; j < kv; ++j) srow[j] = __builtin_nanf("");
          continue;
        }
        inv_sum[r] = 1.0f / Rows::ExpShiftSum(srow, vis, Rows::MaxOf(srow, vis));
        for (int64_t j = vis; j < kv; ++j) srow[j] = 0.0f;
      }
      GemmArgs o;
      o.M = rows; o.N = a.Dv; o.K = kv;
      o.A = S; o.lda = kv;
      o.B = MatB{Offset<D>(a.v, hk * a.Dv), D, a.ldv, true};
      o.C = out; o.ldc = a.ldo;
      Gemm::Serial(o);
      for (int64_t r = 0; r < rows; ++r)
        if (Visible(a, i0 + r) > 0) Rows::Scale(out + r * a.ldo, a.Dv, inv_sum[r]);
    });
  }

  // Decode (flash-decoding): K/V rows hold all heads of a token contiguously, so a task takes a
  // block of keys and a range of KV heads and walks the keys in memory order, computing every head
  // of the range for each key. Each task leaves per-head partials (block max m, sum l, unnormalised
  // output o); the merge rescales them by exp(m - M) with M the global max.
  template <DType D>
  static void Decode(ThreadPool& pool, const AttentionArgs& a) {
    const int64_t group = a.Hq / a.Hkv;
    const int64_t want = 4 * static_cast<int64_t>(pool.size());
    const int64_t kb = MaxI(64, CeilDiv(a.Tk, want));  // keys per block
    const int64_t nkb = MaxI(1, CeilDiv(a.Tk, kb));
    const int64_t hsplit = MinI(a.Hkv, MaxI(1, CeilDiv(want, a.Tq * nkb)));  // KV-head ranges
    const int64_t hkv_per = CeilDiv(a.Hkv, hsplit);
    const int64_t stride = a.Dv + 2;  // partial record: o[Dv], m, l
    float* part = ThreadScratchAs<float>(ScratchSlot::kAttnPartial,
                                         static_cast<size_t>(a.Tq * nkb * a.Hq * stride));
    pool.Run(a.Tq * nkb * hsplit, [&](int64_t task, int) {
      const int64_t i = task / (nkb * hsplit), b = (task / hsplit) % nkb, hs = task % hsplit;
      const int64_t hk0 = hs * hkv_per, hk1 = MinI(a.Hkv, hk0 + hkv_per);
      if (hk0 >= hk1) return;
      const int64_t h0 = hk0 * group, nh = (hk1 - hk0) * group;
      const int64_t j0 = b * kb, j1 = MinI(Visible(a, i), j0 + kb);
      float* rec = part + ((i * nkb + b) * a.Hq + h0) * stride;
      if (j1 <= j0) {
        for (int64_t h = 0; h < nh; ++h) {
          rec[h * stride + a.Dv] = -__builtin_inff();
          rec[h * stride + a.Dv + 1] = 0.0f;
        }
        return;
      }
      const int64_t n = j1 - j0;
      float* s = ThreadScratchAs<float>(ScratchSlot::kScores, static_cast<size_t>(nh * n));  // [head][key]
      const float* q = a.q + i * a.ldq + h0 * a.Dk;
      // A half-precision K/V row that several query heads share (GQA; MLA's one latent for all
      // heads) is widened once into an L1 row, not once per head; an unshared one is read directly.
      constexpr bool kHalf = D != DType::kF32;
      const bool widen = kHalf && group > 1;
      float* row = widen ? ThreadScratchAs<float>(ScratchSlot::kKvRow, static_cast<size_t>(MaxI(a.Dk, a.Dv))) : nullptr;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t krow = (j0 + j) * a.ldk + hk0 * a.Dk;
        for (int64_t h = 0; h < nh; ++h) {
          const int64_t e = krow + (h / group) * a.Dk;
          if (!widen) {
            s[h * n + j] = Dot<D>(q + h * a.Dk, a.k, e, a.Dk) * a.scale;
            continue;
          }
          if (h % group == 0) Widen<D>(a.k, e, row, a.Dk);
          s[h * n + j] = Dot<DType::kF32>(q + h * a.Dk, row, 0, a.Dk) * a.scale;
        }
      }
      for (int64_t h = 0; h < nh; ++h) {
        float* sh = s + h * n;
        const float m = Rows::MaxOf(sh, n);
        rec[h * stride + a.Dv] = m;
        rec[h * stride + a.Dv + 1] = Rows::ExpShiftSum(sh, n, m);
        float* o = rec + h * stride;
        for (int64_t c = 0; c < a.Dv; ++c) o[c] = 0.0f;
      }
      for (int64_t j = 0; j < n; ++j) {
        const int64_t vrow = (j0 + j) * a.ldv + hk0 * a.Dv;
        for (int64_t h = 0; h < nh; ++h) {
          const int64_t e = vrow + (h / group) * a.Dv;
          if (!widen) {
            Axpy<D>(s[h * n + j], a.v, e, rec + h * stride, a.Dv);
            continue;
          }
          if (h % group == 0) Widen<D>(a.v, e, row, a.Dv);
          Axpy<DType::kF32>(s[h * n + j], row, 0, rec + h * stride, a.Dv);
        }
      }
    });
    pool.ParallelFor(a.Tq * a.Hq, 4, [&](int64_t b0, int64_t b1) {
      for (int64_t idx = b0; idx < b1; ++idx) {
        const int64_t i = idx / a.Hq, h = idx % a.Hq;
        float* o = a.out + i * a.ldo + h * a.Dv;
        const float* r0 = part + (i * nkb * a.Hq + h) * stride;  // block b at r0 + b*Hq*stride
        float M = -__builtin_inff();
        for (int64_t b = 0; b < nkb; ++b) M = MaxF(M, r0[b * a.Hq * stride + a.Dv]);
        if (M == -__builtin_inff()) {  // no visible key: 0/0, as the reference
          for (int64_t c = 0; c < a.Dv; ++c) o[c] = __builtin_nanf("");
          continue;
        }
        float L = 0.0f;
        for (int64_t c = 0; c < a.Dv; ++c) o[c] = 0.0f;
        for (int64_t b = 0; b < nkb; ++b) {
          const float* r = r0 + b * a.Hq * stride;
          if (r[a.Dv + 1] == 0.0f) continue;
          const float w = __builtin_expf(r[a.Dv] - M);
          L += w * r[a.Dv + 1];
          Axpy<DType::kF32>(w, r, 0, o, a.Dv);
        }
        Rows::Scale(o, a.Dv, 1.0f / L);
      }
    });
  }

  template <DType D>
  static const void* Offset(const void* base, int64_t e) {
    if constexpr (D == DType::kF32) return static_cast<const float*>(base) + e;
    else return static_cast<const uint16_t*>(base) + e;
  }

  template <DType D>
  static void RunAs(ThreadPool& pool, const AttentionArgs& a) {
    if (a.Tq >= kBlockedMinTq) Blocked<D>(pool, a);
    else Decode<D>(pool, a);
  }

  static void Run(ThreadPool& pool, const AttentionArgs& a) {
    if (a.Tq <= 0 || a.Hq <= 0) return;
    switch (a.kv_dtype) {
      case DType::kBF16: RunAs<DType::kBF16>(pool, a); break;
      case DType::kF16: RunAs<DType::kF16>(pool, a); break;
      default: RunAs<DType::kF32>(pool, a); break;
    }
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
