// Elementwise and row ops: every SIMD variant against the scalar reference (std::erf, std::tanh,
// std::exp in f32; double-accumulated norms).
//
// Tolerances:
//  - GeluErf: <= 1e-6 absolute on [-10, 10] (the brief's requirement; the A&S 7.1.26 erfc has
//    |error| <= 1.5e-7, times |x|/2, plus f32 rounding).
//  - GeluTanh, Silu, SwiGlu: 1e-6 absolute + 2e-6 relative: computed as x / (1 + exp(·)) instead
//    of through tanh, so results differ by a few ulps of the output.
//  - Softmax: 1e-6 relative (exp polynomial ~2 ulp, f32 sum of <= 1000 positive terms).
//  - RmsNorm / LayerNorm: 1e-5 relative to the output magnitude (f32 vs double statistics over
//    <= 4099 values: ~1e-7 relative).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "kernels/reference.h"

namespace dsvl::kernels::test {
namespace {

class RowOpsTest : public PerIsaTest {};

// Dense grid over [-10, 10] plus values near the saturation and tail boundaries; odd length so
// every variant's vector tail is exercised.
std::vector<float> ActivationInputs() {
  std::vector<float> x;
  for (int i = -100000; i <= 100000; i += 3) x.push_back(static_cast<float>(i) * 1e-4f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 88.0f, -88.0f, 100.0f, -100.0f}) x.push_back(v);
  x.push_back(0.5f);
  return x;
}

TEST_P(RowOpsTest, GeluErfWithin1e6Absolute) {
  ThreadPool pool(2);
  std::vector<float> x = ActivationInputs(), want = x;
  GeluErf(pool, x.data(), static_cast<int64_t>(x.size()));
  ref::GeluErf(pool, want.data(), static_cast<int64_t>(want.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_NEAR(x[i], want[i], 1e-6) << "i=" << i;
    worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - want[i]));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", worst);
  RecordProperty("max_abs_error", buf);
}

TEST_P(RowOpsTest, GeluTanhSiluSwiGlu) {
  ThreadPool pool(2);
  const std::vector<float> in = ActivationInputs();
  const int64_t n = static_cast<int64_t>(in.size());
  auto check = [&](const std::vector<float>& got, const std::vector<float>& want, const char* what) {
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-6 + 2e-6 * std::fabs(want[i])) << what << " i=" << i << " x=" << in[i];
  };
  std::vector<float> a = in, b = in;
  GeluTanh(pool, a.data(), n);
  ref::GeluTanh(pool, b.data(), n);
  check(a, b, "gelu_tanh");
  a = in, b = in;
  Silu(pool, a.data(), n);
  ref::Silu(pool, b.data(), n);
  check(a, b, "silu");
  std::vector<float> up = RandomVec(in.size(), 3);
  a = in, b = in;
  SwiGlu(pool, a.data(), up.data(), n);
  ref::SwiGlu(pool, b.data(), up.data(), n);
  check(a, b, "swiglu");
}

TEST_P(RowOpsTest, AddIsExact) {
  ThreadPool pool(2);
  for (int64_t n : {1, 15, 33, 50001}) {
    std::vector<float> y = RandomVec(static_cast<size_t>(n), 1), x = RandomVec(static_cast<size_t>(n), 2);
    std::vector<float> want = y;
    Add(pool, y.data(), x.data(), n);
    ref::Add(pool, want.data(), x.data(), n);
    EXPECT_EQ(y, want);
  }
}

TEST_P(RowOpsTest, SoftmaxRow) {
  for (int64_t n : {1, 7, 16, 33, 729, 1000}) {
    std::vector<float> x = RandomVec(static_cast<size_t>(n), 5, -20.0f, 20.0f), want = x;
    SoftmaxRow(x.data(), n);
    ref::SoftmaxRow(want.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(x[i], want[i], 1e-6 * want[i] + 1e-30) << "n=" << n << " i=" << i;
  }
}

TEST_P(RowOpsTest, RmsNormAndLayerNorm) {
  ThreadPool pool(2);
  for (int64_t cols : {1, 17, 1152, 4099}) {
    const int64_t rows = 5;
    SCOPED_TRACE(testing::Message() << "cols=" << cols);
    std::vector<float> x = RandomVec(static_cast<size_t>(rows * cols), 11, -4.0f, 6.0f);
    Weights w(DType::kBF16, Shape{cols}, 12);
    Weights b(DType::kF32, Shape{cols}, 13);
    std::vector<float> y(x.size()), want(x.size());
    RmsNorm(pool, x.data(), rows, cols, w.view(), 1e-6f, y.data());
    ref::RmsNorm(pool, x.data(), rows, cols, w.view(), 1e-6f, want.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-5 * std::fabs(want[i]) + 1e-6) << "rms i=" << i;
    LayerNorm(pool, x.data(), rows, cols, w.view(), b.view(), 1e-5f, y.data());
    ref::LayerNorm(pool, x.data(), rows, cols, w.view(), b.view(), 1e-5f, want.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-5 * std::fabs(want[i]) + 1e-5) << "ln i=" << i;
    // In place (y aliases x), without bias.
    std::vector<float> z = x;
    LayerNorm(pool, z.data(), rows, cols, w.view(), TensorView(), 1e-5f, z.data());
    ref::LayerNorm(pool, x.data(), rows, cols, w.view(), TensorView(), 1e-5f, want.data());
    for (size_t i = 0; i < z.size(); ++i) ASSERT_NEAR(z[i], want[i], 1e-5 * std::fabs(want[i]) + 1e-5) << "ln-inplace i=" << i;
  }
}

DSVL_INSTANTIATE_PER_ISA(RowOpsTest);

}  // namespace
}  // namespace dsvl::kernels::test
