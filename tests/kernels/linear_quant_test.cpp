// Linear over quantised weights (Q8_0, Q4_0, Q4_K): every SIMD variant against the scalar references.
//
// Calls with M <= simd::kQuantGemvMaxM on a SIMD variant run the integer-dot GEMV, which quantises
// the activations to 8 bits per block of 32 (gemv_quant_impl.h); they are compared with
// ref::LinearQ8Act, the f32-accumulating reference on the same quantised activations, to 1e-5 of
// Σ|x̂·w| + |bias| (as linear_test.cpp: only f32 summation order and the order of the scale products
// differ). Separately, against ref::Linear on the unquantised activations, the difference must stay
// within the activation quantisation error: each x is moved by at most d/2 (d = max|x|/127 of its
// block), so |y - y_f32| <= Σ_k (d_k/2)·|w_k| (times 1 + 1e-4 for the float rounding of d·q, plus the
// summation tolerance). The VNNI integer GEMM (larger M) quantises the same way and is held to the
// same two checks; the dequantising GEMM (larger M without VNNI) and the scalar variant keep f32
// activations and are compared with ref::Linear to 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "dsvl/error.h"
#include "core/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "kernels/quant_formats.h"
#include "kernels/reference.h"

namespace dsvl::kernels::test {
namespace {

// Quantised [N, K] weights from random f32, plus |dequantised w| as f32 for the error bounds.
struct QuantWeights {
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
  std::vector<float> abs_f32;

  QuantWeights(DType t, int64_t N, int64_t K, uint32_t seed) : dtype(t), shape{N, K} {
    const std::vector<float> f = RandomVec(static_cast<size_t>(N * K), seed);
    const size_t row_bytes = DTypeBytes(t, K);
    bytes.resize(row_bytes * static_cast<size_t>(N));
    abs_f32.resize(f.size());
    for (int64_t n = 0; n < N; ++n) {
      quant::QuantizeRow(t, f.data() + n * K, K, bytes.data() + static_cast<size_t>(n) * row_bytes);
      quant::DequantizeRow(t, bytes.data() + static_cast<size_t>(n) * row_bytes, K, abs_f32.data() + n * K);
    }
    abs_f32 = Abs(abs_f32);
  }
  TensorView view() const { return TensorView(dtype, shape, bytes.data()); }
  TensorView abs_view() const { return TensorView(DType::kF32, shape, abs_f32.data()); }

  // Rewrites the weights in the interleaved form of their type (N must be a multiple of 8).
  void Interleave() {
    std::vector<uint8_t> x8(bytes.size());
    for (int64_t g = 0; g < shape[0] / 8; ++g) quant::InterleaveGroup(dtype, bytes.data(), shape[1], g, x8.data());
    bytes.swap(x8);
    dtype = InterleavedQuantType(dtype);
  }
};

// |x - x̂| bound per element: half the block's quantisation step d = max|x| / 127.
std::vector<float> ActivationErrorBound(const std::vector<float>& x, int64_t M, int64_t K, int64_t ldx) {
  std::vector<float> e(x.size(), 0.0f);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t b = 0; b < K; b += 32) {
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[static_cast<size_t>(m * ldx + b + i)]));
      for (int i = 0; i < 32; ++i) e[static_cast<size_t>(m * ldx + b + i)] = amax / 127.0f / 2.0f;
    }
  return e;
}

// Where the GEMM over quantised weights is the VNNI integer GEMM (simd.h): the AVX512-BF16 variant
// (emulated or not) and the AVX-512 variant on a CPU with AVX512-VNNI.
bool IntegerGemm(Variant v) {
  switch (v) {
    case Variant::kAvx512Bf16Emulated:
    case Variant::kAvx512Bf16EmulatedBf16Act:
    case Variant::kAvx512Bf16:
    case Variant::kAvx512Bf16Bf16Act: return true;
    case Variant::kAvx512: return __builtin_cpu_supports("avx512vnni");
    default: return false;
  }
}

bool QuantisesActivations(Variant v, int64_t M) {
  return v != Variant::kScalar && (M <= simd::kQuantGemvMaxM || IntegerGemm(v));
}



class LinearQuantTest : public PerIsaTest {
 protected:
  // Runs Linear and checks it against the references described at the top of this file.
  // interleaved: the weights in their interleaved form (N a multiple of 8).
  void Check(DType t, int64_t M, int64_t K, int64_t N, bool with_bias, uint32_t seed, bool interleaved = false) {
    SCOPED_TRACE(testing::Message() << DTypeName(t) << " M=" << M << " K=" << K << " N=" << N << " bias=" << with_bias
                                    << " interleaved=" << interleaved);
    ThreadPool pool(3);
    const int64_t ldx = K + 3, ldy = N + 5;
    QuantWeights w(t, N, K, seed);
    if (interleaved) w.Interleave();
    Weights b(DType::kF32, Shape{N}, seed + 1);
    const TensorView bias_view = b.view(), abs_bias = b.abs_view();
    const TensorView* bias = with_bias ? &bias_view : nullptr;
    const std::vector<float> x = RandomVec(static_cast<size_t>(M * ldx), seed + 2);
    const float kSentinel = 12345.0f;
    std::vector<float> y(static_cast<size_t>(M * ldy), kSentinel), want_f32(y.size()), bound_f32(y.size());
    Linear(pool, x.data(), M, K, w.view(), bias, y.data(), ldx, ldy);
    ref::Linear(pool, x.data(), M, K, w.view(), bias, want_f32.data(), ldx, ldy);
    const std::vector<float> ax = Abs(x);
    ref::Linear(pool, ax.data(), M, K, w.abs_view(), with_bias ? &abs_bias : nullptr, bound_f32.data(), ldx, ldy);
    const bool q8act = interleaved ? HasInterleavedKernels() && M <= simd::kQuantGemvMaxM
                                   : QuantisesActivations(GetParam(), M);
    std::vector<float> want_q(y.size()), bound_q(y.size()), act_err(y.size());
    if (q8act) {
      ref::LinearQ8Act(pool, x.data(), M, K, w.view(), bias, want_q.data(), ldx, ldy);
      std::vector<float> xq(x.size(), 0.0f);
      for (int64_t m = 0; m < M; ++m) ref::RoundTripQ8Activations(x.data() + m * ldx, K, xq.data() + m * ldx);
      const std::vector<float> axq = Abs(xq), e = ActivationErrorBound(x, M, K, ldx);
      ref::Linear(pool, axq.data(), M, K, w.abs_view(), with_bias ? &abs_bias : nullptr, bound_q.data(), ldx, ldy);
      ref::Linear(pool, e.data(), M, K, w.abs_view(), nullptr, act_err.data(), ldx, ldy);
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < ldy; ++n) {
        const size_t i = static_cast<size_t>(m * ldy + n);
        if (n >= N) {
          ASSERT_EQ(y[i], kSentinel) << "wrote past N at m=" << m << " n=" << n;
          continue;
        }
        if (q8act) {
          ASSERT_NEAR(y[i], want_q[i], 1e-5 * bound_q[i] + 1e-30) << "vs LinearQ8Act, m=" << m << " n=" << n;
          ASSERT_NEAR(y[i], want_f32[i], act_err[i] * (1 + 1e-4) + 1e-5 * bound_f32[i])
              << "vs f32 activations, m=" << m << " n=" << n;
        } else {
          ASSERT_NEAR(y[i], want_f32[i], 1e-5 * bound_f32[i] + 1e-30) << "m=" << m << " n=" << n;
        }
      }
  }
};

TEST_P(LinearQuantTest, MatchesReferencesAtOddShapes) {
  uint32_t seed = 1;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    const int64_t blk = GetDTypeInfo(t).block_elems;
    // K: one block, a few blocks, and (GEMM) more than one K block of 512 with a partial last one.
    const std::vector<int64_t> Ks = blk == 32 ? std::vector<int64_t>{32, 96, 544} : std::vector<int64_t>{256, 768};
    for (int64_t M : {1, 2, 3, 7, 8, 9, 16, 64, 130})
      for (int64_t K : Ks)
        for (int64_t N : {1, 13, 67}) {
          Check(t, M, K, N, seed % 2 == 0, seed * 7);
          ++seed;
        }
  }
}

TEST_P(LinearQuantTest, DecodeShapesAcrossManyBlocks) {
  // Long rows (many blocks, K blocks of the GEMM) with N spanning several tasks of the GEMV's split.
  uint32_t seed = 500;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K})
    for (int64_t M : {1, 4, 5, 16}) Check(t, M, 2048, 141, true, seed++);
}

// Rows of a call with M <= kRowInvariantMaxM are bitwise those of one-row calls (batched decoding
// stacks several sequences' rows in one call).
// The interleaved forms (N a multiple of 8) too: batched decoding relies on it for them as well.
TEST_P(LinearQuantTest, RowsOfSmallMDoNotDependOnM) {
  ThreadPool pool(3);
  uint32_t seed = 300;
  for (bool interleaved : {false, true})
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K})
    for (int64_t K : {256, 512, 2048})
      for (int64_t M = 2; M <= kRowInvariantMaxM; ++M) {
        SCOPED_TRACE(testing::Message() << "M=" << M << " K=" << K << " w=" << DTypeName(t) << " interleaved=" << interleaved);
        const int64_t N = interleaved ? 40 : 37;
        QuantWeights w(t, N, K, seed++);
        if (interleaved) w.Interleave();
        const std::vector<float> x = RandomVec(static_cast<size_t>(M * K), seed++);
        std::vector<float> y(static_cast<size_t>(M * N)), one(y.size());
        Linear(pool, x.data(), M, K, w.view(), nullptr, y.data());
        for (int64_t m = 0; m < M; ++m) Linear(pool, x.data() + m * K, 1, K, w.view(), nullptr, one.data() + m * N);
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_EQ(std::memcmp(&y[i], &one[i], sizeof(float)), 0) << "row " << i / N << " col " << i % N;
      }
}

TEST_P(LinearQuantTest, ZeroActivationBlocks) {
  // A block of all-zero activations has scale 0: it must contribute nothing (no NaN from 0/0).
  ThreadPool pool(2);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    SCOPED_TRACE(DTypeName(t));
    const int64_t K = 512, N = 9;
    QuantWeights w(t, N, K, 3);
    std::vector<float> x = RandomVec(static_cast<size_t>(K), 4);
    for (int64_t k = 32; k < 96; ++k) x[static_cast<size_t>(k)] = 0.0f;
    std::vector<float> y(static_cast<size_t>(N)), want(y.size());
    Linear(pool, x.data(), 1, K, w.view(), nullptr, y.data());
    if (QuantisesActivations(GetParam(), 1))
      ref::LinearQ8Act(pool, x.data(), 1, K, w.view(), nullptr, want.data(), 0, 0);
    else
      ref::Linear(pool, x.data(), 1, K, w.view(), nullptr, want.data(), 0, 0);
    for (int64_t n = 0; n < N; ++n) {
      ASSERT_TRUE(std::isfinite(y[static_cast<size_t>(n)]));
      ASSERT_NEAR(y[static_cast<size_t>(n)], want[static_cast<size_t>(n)], 1e-4) << "n=" << n;
    }
  }
}

// The interleaved forms (repacked at load for decode): the same two references, at every M (the
// GEMV for M <= kQuantGemvMaxM, the dequantising GEMM above), rows of one to many groups of 8.
TEST_P(LinearQuantTest, InterleavedMatchesReferences) {
  uint32_t seed = 700;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    const std::vector<int64_t> Ks =
        GetDTypeInfo(t).block_elems == 32 ? std::vector<int64_t>{32, 96, 544, 2048} : std::vector<int64_t>{256, 768, 2048};
    for (int64_t M : {1, 2, 3, 4, 5, 8, 9, 33})
      for (int64_t K : Ks)
        for (int64_t N : {8, 24, 136}) {
          Check(t, M, K, N, seed % 2 == 0, seed, /*interleaved=*/true);
          ++seed;
        }
  }
}

// Above the GEMV, the interleaved weights are widened to the same f32 values as the plain ones and
// go through the same GEMM: the results are bitwise those of the plain layout.
TEST_P(LinearQuantTest, InterleavedGemmEqualsPlainGemm) {
  ThreadPool pool(2);
  uint32_t seed = 1100;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K})
    for (int64_t M : {9, 40}) {
      SCOPED_TRACE(testing::Message() << "M=" << M << " w=" << DTypeName(t));
      const int64_t K = 1024 + 512, N = 48;  // K: three blocks of the GEMM's KC = 512
      QuantWeights plain(t, N, K, seed), x8(t, N, K, seed);
      ++seed;
      x8.Interleave();
      const std::vector<float> x = RandomVec(static_cast<size_t>(M * K), seed++);
      std::vector<float> want(static_cast<size_t>(M * N)), got(want.size());
      // Without interleaved kernels the variant computes them as ref::Linear does the plain ones.
      if (HasInterleavedKernels()) Linear(pool, x.data(), M, K, plain.view(), nullptr, want.data());
      else ref::Linear(pool, x.data(), M, K, plain.view(), nullptr, want.data(), 0, 0);
      Linear(pool, x.data(), M, K, x8.view(), nullptr, got.data());
      if (HasInterleavedKernels() && IntegerGemm(GetParam())) {
        // There the plain weights take the integer GEMM (int8 activations) and the interleaved ones
        // the dequantising GEMM: the latter is checked against ref::Linear.
        ref::Linear(pool, x.data(), M, K, plain.view(), nullptr, want.data(), 0, 0);
        const std::vector<float> ax = Abs(x);
        std::vector<float> bound(want.size());
        ref::Linear(pool, ax.data(), M, K, plain.abs_view(), nullptr, bound.data(), 0, 0);
        for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * bound[i] + 1e-30) << "i=" << i;
        continue;
      }
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0) << "row " << i / N << " col " << i % N;
    }
}

TEST_P(LinearQuantTest, InterleavedRejectsRowsNotGroupsOf8) {
  ThreadPool pool(1);
  std::vector<uint8_t> bytes(34 * 12);
  std::vector<float> x(32), y(12);
  EXPECT_THROW(Linear(pool, x.data(), 1, 32, TensorView(DType::kQ8_0x8, Shape{12, 32}, bytes.data()), nullptr, y.data()),
               Error);
}

TEST_P(LinearQuantTest, RejectsRowsNotWholeBlocks) {
  ThreadPool pool(1);
  std::vector<uint8_t> bytes(1024);
  std::vector<float> x(40), y(2);
  EXPECT_THROW(Linear(pool, x.data(), 1, 40, TensorView(DType::kQ8_0, Shape{2, 40}, bytes.data()), nullptr, y.data()),
               Error);
}

DSVL_INSTANTIATE_PER_ISA(LinearQuantTest);

TEST(RoundTripQ8Activations, EachValueWithinHalfAStepAndTheExtremeExact) {
  const std::vector<float> x = RandomVec(96, 11, -3.0f, 2.0f);
  std::vector<float> xq(x.size());
  ref::RoundTripQ8Activations(x.data(), 96, xq.data());
  for (int64_t b = 0; b < 96; b += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[static_cast<size_t>(b + i)]));
    const float d = amax / 127.0f;
    for (int i = 0; i < 32; ++i) {
      const size_t k = static_cast<size_t>(b + i);
      EXPECT_LE(std::fabs(xq[k] - x[k]), d * 0.5f * (1 + 1e-4f)) << k;
      const float q = xq[k] / d;
      EXPECT_NEAR(q, std::nearbyint(q), 1e-3) << "not on the grid, k=" << k;
      if (std::fabs(x[k]) == amax) {
        EXPECT_NEAR(std::fabs(xq[k]), amax, 1e-6f * amax) << k;
      }
    }
  }
}

}  // namespace
}  // namespace dsvl::kernels::test
