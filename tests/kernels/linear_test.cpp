// Linear and GemmNT: every SIMD variant against the scalar (double-accumulating) reference.
//
// Tolerance: the variants accumulate in f32 in a different order than the reference, so each
// output may differ by a few ulps of the partial sums. We allow |y - ref| <= 1e-5 · (Σ_k |x_k·w_k| +
// |bias|), i.e. 1e-5 relative to the magnitude the sum passes through (computed exactly by running
// the reference on |x| and |w|). The worst-case f32 bound is K·2^-24·Σ|x·w| (3e-5 at K = 515), the
// realistic one ~√K·2^-24 (1.4e-6), so 1e-5 catches any indexing error (which is O(1) relative)
// while not flaking on summation order. The bf16-dot GEMV is held to the same bound: its 3-term split
// of x is exact to 2^-27 relative. With bf16 activations x is rounded: see RoundsActivations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "dsvl/error.h"
#include "core/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "kernels/reference.h"

namespace dsvl::kernels::test {
namespace {

struct LinearShape {
  int64_t M, K, N;
};

// Odd sizes around every blocking boundary: GEMV (M <= 4) vs GEMM, MR = 6/12, NR = 16/32, NC =
// 64/128, KC = 512 (K = 515), vector widths 8/16/32 (bf16 dot) and scalar K tails.
const LinearShape kShapes[] = {
    {1, 7, 5},    {1, 33, 67},   {1, 257, 133}, {1, 100, 1},  {2, 100, 31},  {3, 515, 67},
    {4, 64, 16},  {5, 33, 67},   {6, 48, 32},   {13, 300, 129}, {17, 257, 133}, {130, 515, 67},
    {130, 100, 133}, {7, 1, 9},
};

class LinearTest : public PerIsaTest {};

TEST_P(LinearTest, MatchesReferenceAtOddShapes) {
  ThreadPool pool(3);
  uint32_t seed = 1;
  for (const LinearShape& s : kShapes)
    for (DType wt : {DType::kF32, DType::kBF16, DType::kF16})
      for (int bias_kind = 0; bias_kind < 3; ++bias_kind) {  // none, f32, bf16
        const int64_t ldx = s.K + 3, ldy = s.N + 5;
        SCOPED_TRACE(testing::Message() << "M=" << s.M << " K=" << s.K << " N=" << s.N << " w="
                                        << DTypeName(wt) << " bias=" << bias_kind);
        Weights w(wt, Shape{s.N, s.K}, seed++);
        Weights b(bias_kind == 2 ? DType::kBF16 : DType::kF32, Shape{s.N}, seed++);
        const TensorView bias_view = b.view();
        const TensorView* bias = bias_kind ? &bias_view : nullptr;
        std::vector<float> x = RandomVec(static_cast<size_t>(s.M * ldx), seed++);
        const float kSentinel = 12345.0f;
        std::vector<float> y(static_cast<size_t>(s.M * ldy), kSentinel), want(y.size(), kSentinel),
            bound(y.size(), 0.0f);
        Linear(pool, x.data(), s.M, s.K, w.view(), bias, y.data(), ldx, ldy);
        if (RoundsActivations(GetParam(), wt)) x = RoundedToBf16(x);
        ref::Linear(pool, x.data(), s.M, s.K, w.view(), bias, want.data(), ldx, ldy);
        std::vector<float> ax = Abs(x);
        const TensorView abs_bias = b.abs_view();
        ref::Linear(pool, ax.data(), s.M, s.K, w.abs_view(), bias ? &abs_bias : nullptr, bound.data(), ldx, ldy);
        for (int64_t m = 0; m < s.M; ++m)
          for (int64_t n = 0; n < ldy; ++n) {
            const size_t i = static_cast<size_t>(m * ldy + n);
            if (n >= s.N) {
              ASSERT_EQ(y[i], kSentinel) << "wrote past N at m=" << m << " n=" << n;
              continue;
            }
            ASSERT_NEAR(y[i], want[i], 1e-5 * bound[i] + 1e-30) << "m=" << m << " n=" << n;
          }
      }
}

TEST_P(LinearTest, LargeKAcrossSeveralKBlocks) {
  // K = 2051 / 2050 span 5 KC = 512 blocks (accumulating epilogue) with a tail; bf16 only. (The
  // bf16-dot GEMM needs rows starting at even elements: odd K takes its fallback.)
  ThreadPool pool(2);
  for (int64_t K : {2051, 2050})
  for (int64_t M : {1, 3, 40}) {
    const int64_t N = 70;
    SCOPED_TRACE(testing::Message() << "K=" << K << " M=" << M);
    Weights w(DType::kBF16, Shape{N, K}, 7);
    Weights b(DType::kF32, Shape{N}, 8);
    const TensorView bias = b.view();
    std::vector<float> x = RandomVec(static_cast<size_t>(M * K), 9);
    std::vector<float> y(static_cast<size_t>(M * N)), want(y.size()), bound(y.size());
    Linear(pool, x.data(), M, K, w.view(), &bias, y.data());
    if (RoundsActivations(GetParam(), DType::kBF16)) x = RoundedToBf16(x);
    ref::Linear(pool, x.data(), M, K, w.view(), &bias, want.data(), 0, 0);
    std::vector<float> ax = Abs(x);
    const TensorView abs_bias = b.abs_view();
    ref::Linear(pool, ax.data(), M, K, w.abs_view(), &abs_bias, bound.data(), 0, 0);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-5 * bound[i]) << "M=" << M << " i=" << i;
  }
}

TEST_P(LinearTest, RejectsMismatchedWeight) {
  ThreadPool pool(1);
  std::vector<float> w(12), x(4), y(3);
  EXPECT_THROW(Linear(pool, x.data(), 1, 5, TensorView(DType::kF32, Shape{3, 4}, w.data()), nullptr, y.data()),
               Error);
  std::vector<int32_t> wi(12);
  EXPECT_THROW(Linear(pool, x.data(), 1, 4, TensorView(DType::kI32, Shape{3, 4}, wi.data()), nullptr, y.data()),
               Error);
}

class GemmNTTest : public PerIsaTest {};

TEST_P(GemmNTTest, MatchesReferenceWithAlphaBetaAndStrides) {
  ThreadPool pool(3);
  uint32_t seed = 100;
  for (const LinearShape& s : kShapes)
    for (float beta : {0.0f, 0.5f}) {
      SCOPED_TRACE(testing::Message() << "M=" << s.M << " K=" << s.K << " N=" << s.N << " beta=" << beta);
      const float alpha = 0.37f;
      const int64_t lda = s.K + 1, ldb = s.K + 2, ldc = s.N + 3;
      std::vector<float> A = RandomVec(static_cast<size_t>(s.M * lda), seed++);
      std::vector<float> B = RandomVec(static_cast<size_t>(s.N * ldb), seed++);
      std::vector<float> C0 = RandomVec(static_cast<size_t>(s.M * ldc), seed++);
      std::vector<float> C = C0, want = C0;
      GemmNT(pool, s.M, s.N, s.K, A.data(), lda, B.data(), ldb, C.data(), ldc, alpha, beta);
      ref::GemmNT(pool, s.M, s.N, s.K, A.data(), lda, B.data(), ldb, want.data(), ldc, alpha, beta);
      std::vector<float> aA = Abs(A), aB = Abs(B), aC = Abs(C0);
      std::vector<float> bound = aC;
      ref::GemmNT(pool, s.M, s.N, s.K, aA.data(), lda, aB.data(), ldb, bound.data(), ldc, alpha, beta);
      for (int64_t m = 0; m < s.M; ++m)
        for (int64_t n = 0; n < ldc; ++n) {
          const size_t i = static_cast<size_t>(m * ldc + n);
          if (n >= s.N) {
            ASSERT_EQ(C[i], C0[i]) << "wrote past N";
            continue;
          }
          ASSERT_NEAR(C[i], want[i], 1e-5 * bound[i] + 1e-30) << "m=" << m << " n=" << n;
        }
    }
}

// Rows of a call with M <= kRowInvariantMaxM are bitwise those of one-row calls (what batched
// decoding relies on to stack several sequences' rows), at K around the unroll and vector widths.
TEST_P(LinearTest, RowsOfSmallMDoNotDependOnM) {
  ThreadPool pool(3);
  uint32_t seed = 100;
  for (int64_t K : {7, 16, 33, 100, 257, 515, 2048})
    for (DType wt : {DType::kF32, DType::kBF16, DType::kF16})
      for (int64_t M = 2; M <= kRowInvariantMaxM; ++M) {
        SCOPED_TRACE(testing::Message() << "M=" << M << " K=" << K << " w=" << DTypeName(wt));
        const int64_t N = 67;
        Weights w(wt, Shape{N, K}, seed++);
        const std::vector<float> x = RandomVec(static_cast<size_t>(M * K), seed++);
        std::vector<float> y(static_cast<size_t>(M * N)), one(y.size());
        Linear(pool, x.data(), M, K, w.view(), nullptr, y.data());
        for (int64_t m = 0; m < M; ++m) Linear(pool, x.data() + m * K, 1, K, w.view(), nullptr, one.data() + m * N);
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_EQ(std::memcmp(&y[i], &one[i], sizeof(float)), 0) << "row " << i / N << " col " << i % N;
      }
}

DSVL_INSTANTIATE_PER_ISA(LinearTest);
DSVL_INSTANTIATE_PER_ISA(GemmNTTest);

}  // namespace
}  // namespace dsvl::kernels::test
