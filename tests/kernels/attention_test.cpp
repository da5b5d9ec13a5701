// Attention: every SIMD variant against the scalar reference, for the shapes the models use
// (ViT: Tq == Tk, no mask; LLM prefill: causal; decode: Tq < Tk with causal offset; GQA; MLA-style
// Dk != Dv; padded token strides).
//
// Tolerance: each output is a convex combination Σ p_j·v_j. The variants compute scores with f32
// dot products and exp with a ~2 ulp polynomial, so every p_j carries a relative error of a few
// 1e-7 and the output an absolute error of at most that times max|v| (values here are in [-1, 1]).
// We allow 1e-5 · max|v| (the brief's "1e-5 relative"), far below the O(1) error of any wrong key,
// mask or head mapping.
//
// Half-precision K/V (bf16 / f16 KV cache): the same cases with K and V rounded to the half type;
// the variant and the reference read the same rounded values, so the same tolerance holds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "kernels/reference.h"

namespace dsvl::kernels::test {
namespace {

struct AttnCase {
  int64_t Tq, Tk, Hq, Hkv, Dk, Dv;
  bool causal;
  int64_t pad;  // extra floats per token row, to test strides
};

class AttentionTest : public PerIsaTest {};

// x rounded to the half type (bits) and those values widened back to f32.
std::vector<uint16_t> ToHalf(const std::vector<float>& x, DType dt, std::vector<float>* widened) {
  std::vector<uint16_t> h(x.size());
  widened->resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    h[i] = dt == DType::kBF16 ? F32ToBf16(x[i]) : F32ToF16(x[i]);
    (*widened)[i] = dt == DType::kBF16 ? Bf16ToF32(h[i]) : F16ToF32(h[i]);
  }
  return h;
}

void RunCase(const AttnCase& c, uint32_t seed, DType kv_dtype = DType::kF32) {
  SCOPED_TRACE(testing::Message() << "Tq=" << c.Tq << " Tk=" << c.Tk << " Hq=" << c.Hq << " Hkv=" << c.Hkv
                                  << " Dk=" << c.Dk << " Dv=" << c.Dv << " causal=" << c.causal
                                  << " kv=" << DTypeName(kv_dtype));
  ThreadPool pool(3);
  const int64_t ldq = c.Hq * c.Dk + c.pad, ldk = c.Hkv * c.Dk + c.pad, ldv = c.Hkv * c.Dv + 2 * c.pad,
                ldo = c.Hq * c.Dv + c.pad;
  // Scale the queries so scores span a realistic range (softmax far from uniform).
  std::vector<float> q = RandomVec(static_cast<size_t>(c.Tq * ldq), seed, -3.0f, 3.0f);
  std::vector<float> k = RandomVec(static_cast<size_t>(c.Tk * ldk), seed + 1);
  std::vector<float> v = RandomVec(static_cast<size_t>(c.Tk * ldv), seed + 2);
  const float kSentinel = -777.0f;
  std::vector<float> out(static_cast<size_t>(c.Tq * ldo), kSentinel), want(out.size(), kSentinel);
  AttentionArgs a{q.data(), ldq, k.data(), ldk, v.data(), ldv, out.data(), ldo,
                  c.Tq, c.Tk, c.Hq, c.Hkv, c.Dk, c.Dv, 1.0f / std::sqrt(static_cast<float>(c.Dk)), c.causal};
  std::vector<float> k_wide, v_wide;
  std::vector<uint16_t> k_half, v_half;
  if (kv_dtype != DType::kF32) {
    k_half = ToHalf(k, kv_dtype, &k_wide);
    v_half = ToHalf(v, kv_dtype, &v_wide);
    a.k = k_half.data();
    a.v = v_half.data();
    a.kv_dtype = kv_dtype;
  }
  Attention(pool, a);
  a.out = want.data();
  ref::Attention(pool, a);
  if (kv_dtype != DType::kF32) {
    // The reference over half K/V is the f32 reference over the widened values, bit for bit.
    std::vector<float> want_wide(out.size(), kSentinel);
    AttentionArgs w = a;
    w.k = k_wide.data();
    w.v = v_wide.data();
    w.kv_dtype = DType::kF32;
    w.out = want_wide.data();
    ref::Attention(pool, w);
    for (size_t i = 0; i < want.size(); ++i) {
      if (std::isnan(want[i])) continue;
      ASSERT_EQ(want[i], want_wide[i]) << "reference, element " << i;
    }
  }
  for (int64_t i = 0; i < c.Tq; ++i)
    for (int64_t j = 0; j < ldo; ++j) {
      const size_t idx = static_cast<size_t>(i * ldo + j);
      if (j >= c.Hq * c.Dv) {
        ASSERT_EQ(out[idx], kSentinel) << "wrote into row padding";
        continue;
      }
      ASSERT_NEAR(out[idx], want[idx], 1e-5) << "token " << i << " col " << j;
    }
}

TEST_P(AttentionTest, VitSelfAttentionNoMask) {
  RunCase({37, 37, 4, 4, 72, 72, false, 0}, 1);
  RunCase({300, 300, 2, 2, 16, 16, false, 3}, 2);  // two query blocks
  RunCase({257, 257, 2, 2, 72, 72, false, 0}, 10);  // last query block of one row
  RunCase({9, 9, 1, 1, 1024, 1024, false, 0}, 3);  // very wide heads
}

TEST_P(AttentionTest, CausalPrefill) {
  RunCase({20, 20, 3, 3, 64, 64, true, 0}, 4);
  RunCase({270, 270, 2, 1, 24, 16, true, 5}, 5);  // GQA, Dk != Dv, causal across 5 query blocks
}

TEST_P(AttentionTest, CausalWithCacheOffset) {
  RunCase({12, 30, 8, 2, 32, 32, true, 1}, 6);  // blocked path, Tq < Tk
  RunCase({1, 40, 8, 2, 64, 64, true, 0}, 7);   // decode, GQA
  RunCase({5, 41, 4, 4, 20, 36, true, 2}, 8);   // short prefill against a cache
  RunCase({3, 17, 6, 3, 80, 80, false, 0}, 9);  // decode path without mask
}

TEST_P(AttentionTest, DecodeAcrossKeyBlocks) {
  // Decode splits keys into blocks of >= 64 and merges per-block softmax partials.
  RunCase({1, 300, 8, 2, 64, 64, true, 0}, 11);   // 5 key blocks, 2 KV-head ranges
  RunCase({7, 70, 4, 1, 16, 24, true, 3}, 12);    // query 0 sees no key of the second block
  RunCase({2, 1000, 2, 2, 128, 128, false, 0}, 13);
}

// The shapes above with a bf16 / f16 KV cache: blocked (prefill, ViT-like) and decode paths, GQA,
// MLA-style Dk != Dv with V inside the K rows (here separate arrays), odd strides and tails.
TEST_P(AttentionTest, HalfPrecisionKv) {
  for (DType dt : {DType::kBF16, DType::kF16}) {
    RunCase({20, 20, 3, 3, 64, 64, true, 0}, 21, dt);
    RunCase({270, 270, 2, 1, 24, 16, true, 5}, 22, dt);
    RunCase({12, 30, 8, 2, 32, 32, true, 1}, 23, dt);
    RunCase({1, 40, 8, 2, 64, 64, true, 0}, 24, dt);
    RunCase({5, 41, 4, 4, 20, 36, true, 2}, 25, dt);
    RunCase({1, 300, 8, 2, 64, 64, true, 0}, 26, dt);
    RunCase({7, 70, 4, 1, 16, 24, true, 3}, 27, dt);
    RunCase({1, 333, 16, 1, 576, 512, true, 0}, 28, dt);  // MLA absorbed decode shape
    RunCase({4, 1000, 8, 4, 32, 40, true, 1}, 30, dt);    // decode tasks spanning several KV heads of 2 query heads
    RunCase({9, 9, 1, 1, 1024, 1024, false, 0}, 29, dt);
  }
}

// MLA's absorbed attention reads V as the first Dv columns of the K rows (one array, ldk == ldv).
TEST_P(AttentionTest, HalfPrecisionKvSharedLatentRows) {
  ThreadPool pool(2);
  const int64_t Hq = 4, Dk = 40, Dv = 32, Tk = 90;
  for (int64_t Tq : {int64_t{1}, int64_t{3}, int64_t{12}}) {
    std::vector<float> q = RandomVec(static_cast<size_t>(Tq * Hq * Dk), 31, -3.0f, 3.0f);
    std::vector<float> rows = RandomVec(static_cast<size_t>(Tk * Dk), 32), wide;
    std::vector<uint16_t> half = ToHalf(rows, DType::kBF16, &wide);
    std::vector<float> out(static_cast<size_t>(Tq * Hq * Dv)), want(out.size());
    AttentionArgs a{q.data(), Hq * Dk, half.data(), Dk, half.data(), Dk, out.data(), Hq * Dv,
                    Tq, Tk, Hq, 1, Dk, Dv, 0.2f, true, DType::kBF16};
    Attention(pool, a);
    a.k = a.v = wide.data();
    a.kv_dtype = DType::kF32;
    a.out = want.data();
    ref::Attention(pool, a);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << "Tq=" << Tq << " i=" << i;
  }
}

DSVL_INSTANTIATE_PER_ISA(AttentionTest);

}  // namespace
}  // namespace dsvl::kernels::test
