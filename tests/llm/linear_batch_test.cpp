// LinearBatch must give what separate kernels::Linear calls give: the same dot products, only
// handed out to threads differently.
#include "llm/linear_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "dsvl/error.h"
#include "core/tensor.h"
#include "kernels/ops.h"

namespace dsvl {
namespace {

Tensor RandomBf16(int64_t rows, int64_t cols, std::mt19937& rng) {
  Tensor t = Tensor::Empty(DType::kBF16, Shape{rows, cols});
  std::normal_distribution<float> nd(0.0f, 0.05f);
  auto* p = static_cast<uint16_t*>(t.view().data);
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = F32ToBf16(nd(rng));
  return t;
}

std::vector<float> RandomF32(int64_t n, std::mt19937& rng) {
  std::vector<float> v(static_cast<size_t>(n));
  std::normal_distribution<float> nd;
  for (float& x : v) x = nd(rng);
  return v;
}

struct Case {
  int64_t M, K, N, ldx, ldy;  // ld 0 = packed
};

// Several calls of mixed shapes (decode-sized GEMVs, one prefill-sized GEMM, strided in/out) in
// one batch, against one kernels::Linear call each.
void CheckBatch(int threads, const std::vector<Case>& cases) {
  ThreadPool pool(threads);
  std::mt19937 rng(7);
  std::vector<Tensor> weights;
  std::vector<std::vector<float>> xs, expected, got;
  for (const Case& c : cases) {
    weights.push_back(RandomBf16(c.N, c.K, rng));
    const int64_t ldx = c.ldx ? c.ldx : c.K, ldy = c.ldy ? c.ldy : c.N;
    xs.push_back(RandomF32(c.M * ldx, rng));
    expected.emplace_back(static_cast<size_t>(c.M * ldy), -7.0f);
    got.emplace_back(static_cast<size_t>(c.M * ldy), -7.0f);
  }
  LinearBatch batch;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    kernels::Linear(pool, xs[i].data(), c.M, c.K, weights[i].view(), nullptr, expected[i].data(), c.ldx, c.ldy);
    batch.Add(xs[i].data(), c.M, c.K, weights[i].view(), got[i].data(), c.ldx, c.ldy);
  }
  batch.Run(pool);
  for (size_t i = 0; i < cases.size(); ++i) {
    float range = 0.0f, err = 0.0f;
    for (size_t j = 0; j < expected[i].size(); ++j) {
      range = std::max(range, std::fabs(expected[i][j]));
      err = std::max(err, std::fabs(expected[i][j] - got[i][j]));
    }
    // Identical per-element arithmetic today; 1e-6 of the range leaves room only for a kernel that
    // reorders a sum, never for a wrong row, column or stride (those are O(range) errors, and the
    // -7 fill of the padding columns must survive untouched).
    EXPECT_LE(err, 1e-6f * range) << "call " << i << " threads " << threads;
  }
}

const std::vector<Case> kMixed = {
    {1, 1280, 896, 0, 0},      // one routed expert's gate in decode
    {1, 1280, 1792, 0, 0},     // shared experts
    {3, 896, 1280, 0, 0},      // an expert picked by 3 tokens
    {1, 256, 8, 0, 0},         // smaller than one slice
    {2, 64, 40, 96, 3 * 40},   // strided input and output (a column slice of a wider buffer)
    {9, 128, 200, 0, 0},       // GEMM-sized: runs as a plain call
};

TEST(LinearBatch, MatchesSeparateCallsTwoThreads) { CheckBatch(2, kMixed); }
TEST(LinearBatch, MatchesSeparateCallsOneThread) { CheckBatch(1, kMixed); }
TEST(LinearBatch, MatchesSeparateCallsFourThreads) { CheckBatch(4, kMixed); }
TEST(LinearBatch, SingleCall) { CheckBatch(2, {{1, 512, 100, 0, 0}}); }

// AddRows over stacked rows of several sequences (decode rows, small and GEMM-sized chunks; strided
// output): each sequence's rows must be bitwise what kernels::Linear over that sequence alone gives,
// for one thread (slices run inline) and several, for bf16 and f32 weights and for weights large
// enough to be cut into many slices (several calls then share each slice).
void CheckAddRows(int threads, DType dtype, int64_t N, int64_t K) {
  ThreadPool pool(threads);
  std::mt19937 rng(11);
  Tensor w;
  if (dtype == DType::kBF16) {
    w = RandomBf16(N, K, rng);
  } else {
    w = Tensor::Empty(DType::kF32, Shape{N, K});
    const std::vector<float> v = RandomF32(N * K, rng);
    std::copy(v.begin(), v.end(), w.f32());
  }
  const std::vector<RowRange> seqs = {{0, 1}, {1, 1}, {2, 3}, {5, 1}, {6, 9}, {15, 1}, {16, 2}};
  const int64_t T = TotalRows(seqs), ldy = N + 5;
  const std::vector<float> x = RandomF32(T * K, rng);
  std::vector<float> got(static_cast<size_t>(T * ldy), -7.0f), want(got.size(), -7.0f);
  LinearBatch batch;
  batch.AddRows(x.data(), seqs, K, w.view(), got.data(), 0, ldy);
  batch.Run(pool);
  for (const RowRange& r : seqs)
    kernels::Linear(pool, x.data() + r.begin * K, r.count, K, w.view(), nullptr, want.data() + r.begin * ldy, 0, ldy);
  for (int64_t i = 0; i < T * ldy; ++i)
    ASSERT_EQ(std::memcmp(&got[static_cast<size_t>(i)], &want[static_cast<size_t>(i)], sizeof(float)), 0)
        << "row " << i / ldy << " col " << i % ldy << " threads " << threads;
}

TEST(LinearBatch, AddRowsEqualsPerSequenceCallsBitwise) {
  for (int threads : {1, 2, 3}) {
    CheckAddRows(threads, DType::kBF16, 40, 96);      // one slice
    CheckAddRows(threads, DType::kBF16, 1000, 1280);  // many slices, shared by the calls
    CheckAddRows(threads, DType::kF32, 300, 520);     // K not a multiple of the vector width
  }
}

TEST(LinearBatch, EmptyRunIsANoOpAndQueueIsReusable) {
  ThreadPool pool(2);
  LinearBatch batch;
  batch.Run(pool);
  CheckBatch(2, {{1, 64, 16, 0, 0}});
}

TEST(LinearBatch, RejectsMisShapedWeight) {
  std::mt19937 rng(1);
  Tensor w = RandomBf16(16, 32, rng);
  std::vector<float> x(64), y(16);
  LinearBatch batch;
  EXPECT_THROW(batch.Add(x.data(), 1, 64, w.view(), y.data()), Error);
  Tensor ints = Tensor::Empty(DType::kI32, Shape{16, 64});
  EXPECT_THROW(batch.Add(x.data(), 1, 64, ints.view(), y.data()), Error);
  // Nothing was queued: a Run now touches nothing.
  ThreadPool pool(2);
  batch.Run(pool);
  EXPECT_EQ(y, std::vector<float>(16));
}

}  // namespace
}  // namespace dsvl
