// Finite-difference checks of every backward in train/grad_ops: for random inputs x and a random
// projection r, L(x) = Σ r ⊙ f(x) (in double), and each analytic gradient must match the central
// difference (L(x + h e_i) - L(x - h e_i)) / 2h on every element. The ops run in f32, so h is large
// (1e-2) and the tolerance is a relative 2e-2 of the gradient's scale plus 2e-3: a wrong term (a
// missing factor, a sign, a transposed index) is off by O(1) of the scale.
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"
#include "train/grad_ops.h"

namespace dsvl::train {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double Project(const std::vector<float>& y, const std::vector<float>& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}

// Checks `analytic` (dL/dx) against central differences of `loss` over every element of x.
void ExpectGradient(std::vector<float>& x, const std::vector<float>& analytic,
                    const std::function<double()>& loss, const std::string& what) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  double scale = 0;
  for (float g : analytic) scale = std::max(scale, static_cast<double>(std::fabs(g)));
  const float h = 1e-2f;
  for (size_t i = 0; i < x.size(); ++i) {
    const float keep = x[i];
    x[i] = keep + h;
    const double up = loss();
    x[i] = keep - h;
    const double down = loss();
    x[i] = keep;
    const double fd = (up - down) / (2.0 * h);
    ASSERT_NEAR(analytic[i], fd, 2e-2 * scale + 2e-3) << what << " element " << i;
  }
}

TEST(GradOps, Linear) {
  ThreadPool pool(2);
  const int64_t M = 5, K = 7, N = 6;
  auto x = Random(M * K, 1), w = Random(N * K, 2), b = Random(N, 3), r = Random(M * N, 4);
  std::vector<float> y(M * N);
  auto loss = [&] { LinearForward(pool, x.data(), M, K, w.data(), N, b.data(), y.data()); return Project(y, r); };
  std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
  LinearBackward(pool, x.data(), M, K, w.data(), N, r.data(), dx.data(), dw.data(), db.data());
  ExpectGradient(x, dx, loss, "dx");
  ExpectGradient(w, dw, loss, "dw");
  ExpectGradient(b, db, loss, "dbias");
}

// A frozen checkpoint weight is read in place as bf16: the forward and the input gradient through it
// must equal the products with its f32 widening. The input gradient runs in panels of w's columns
// (at most 2^22 floats: here 1023 columns of the 4100 rows, so three panels, the last one partial);
// dx is pre-filled to check that it accumulates.
TEST(GradOps, LinearThroughABf16WeightInPanels) {
  ThreadPool pool(2);
  const int64_t M = 3, N = 4100, K = 2100;
  const std::vector<float> x = Random(M * K, 11), dy = Random(M * N, 12), w_src = Random(N * K, 13, 0.05f);
  std::vector<uint16_t> w_bf16(w_src.size());
  for (size_t i = 0; i < w_src.size(); ++i) w_bf16[i] = F32ToBf16(w_src[i]);
  const TensorView w(DType::kBF16, Shape{N, K}, w_bf16.data());
  std::vector<float> w32(w_src.size());
  kernels::ToF32(w, 0, N * K, w32.data());

  std::vector<float> y(M * N), dx(M * K, 1.0f);
  LinearForward(pool, x.data(), M, K, w, N, nullptr, y.data());
  LinearBackward(pool, x.data(), M, K, w, N, dy.data(), dx.data(), nullptr, nullptr);
  double y_err = 0, y_max = 0, dx_err = 0, dx_max = 0;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double ref = 0;
      for (int64_t k = 0; k < K; ++k) ref += static_cast<double>(x[m * K + k]) * w32[n * K + k];
      y_err = std::max(y_err, std::fabs(y[m * N + n] - ref));
      y_max = std::max(y_max, std::fabs(ref));
    }
    for (int64_t k = 0; k < K; ++k) {
      double ref = 1.0;
      for (int64_t n = 0; n < N; ++n) ref += static_cast<double>(dy[m * N + n]) * w32[n * K + k];
      dx_err = std::max(dx_err, std::fabs(dx[m * K + k] - ref));
      dx_max = std::max(dx_max, std::fabs(ref));
    }
  }
  EXPECT_LT(y_err, 1e-5 * y_max) << "forward through bf16";
  EXPECT_LT(dx_err, 1e-5 * dx_max) << "input gradient through bf16, in panels";
}

TEST(GradOps, RmsNormAndLayerNorm) {
  const int64_t T = 3, n = 8;
  auto x = Random(T * n, 5), w = Random(n, 6), b = Random(n, 7), r = Random(T * n, 8);
  std::vector<float> y(T * n), mean(T), rstd(T);
  auto rms = [&] { RmsNormForward(x.data(), T, n, w.data(), 1e-6f, y.data(), rstd.data()); return Project(y, r); };
  rms();
  std::vector<float> dx(x.size()), dw(w.size());
  RmsNormBackward(x.data(), T, n, w.data(), rstd.data(), r.data(), dx.data(), dw.data());
  ExpectGradient(x, dx, rms, "rms dx");
  ExpectGradient(w, dw, rms, "rms dw");

  auto ln = [&] {
    LayerNormForward(x.data(), T, n, w.data(), b.data(), 1e-6f, y.data(), mean.data(), rstd.data());
    return Project(y, r);
  };
  ln();
  std::vector<float> lx(x.size()), lw(w.size()), lb(b.size());
  LayerNormBackward(x.data(), T, n, w.data(), mean.data(), rstd.data(), r.data(), lx.data(), lw.data(), lb.data());
  ExpectGradient(x, lx, ln, "layernorm dx");
  ExpectGradient(w, lw, ln, "layernorm dw");
  ExpectGradient(b, lb, ln, "layernorm db");
}

TEST(GradOps, ActivationsAndSwiGlu) {
  const int64_t n = 40;
  auto x = Random(n, 9, 2.0f), u = Random(n, 10), r = Random(n, 11);
  std::vector<float> y(n);
  for (bool tanh_form : {false, true}) {
    auto f = [&] {
      tanh_form ? GeluTanhForward(x.data(), n, y.data()) : GeluErfForward(x.data(), n, y.data());
      return Project(y, r);
    };
    std::vector<float> dx(n);
    tanh_form ? GeluTanhBackward(x.data(), n, r.data(), dx.data()) : GeluErfBackward(x.data(), n, r.data(), dx.data());
    ExpectGradient(x, dx, f, tanh_form ? "gelu tanh" : "gelu erf");
  }
  auto sw = [&] { SwiGluForward(x.data(), u.data(), n, y.data()); return Project(y, r); };
  std::vector<float> dg(n), du(n);
  SwiGluBackward(x.data(), u.data(), n, r.data(), dg.data(), du.data());
  ExpectGradient(x, dg, sw, "swiglu dgate");
  ExpectGradient(u, du, sw, "swiglu dup");
}

TEST(GradOps, RopeBackwardIsTheInverseRotation) {
  const int64_t T = 3, H = 2, D = 8;
  auto x = Random(T * H * D, 12), r = Random(T * H * D, 13);
  std::vector<float> cos(T * D / 2), sin(T * D / 2);
  for (int64_t i = 0; i < T * D / 2; ++i) {
    cos[i] = std::cos(0.3f * i);
    sin[i] = std::sin(0.3f * i);
  }
  std::vector<float> y;
  auto f = [&] { y = x; RopeRotateHalf(y.data(), T, H, D, D, cos.data(), sin.data(), false); return Project(y, r); };
  std::vector<float> dx = r;
  RopeRotateHalf(dx.data(), T, H, D, D, cos.data(), sin.data(), true);
  ExpectGradient(x, dx, f, "rope");
}

TEST(GradOps, AttentionCausalGqaAndFull) {
  ThreadPool pool(2);
  for (bool causal : {true, false}) {
    const AttentionShape s{5, 4, 2, 3, 0.6f, causal};
    auto q = Random(s.T * s.Hq * s.D, 14), k = Random(s.T * s.Hkv * s.D, 15), v = Random(k.size(), 16),
         r = Random(q.size(), 17);
    std::vector<float> out(q.size()), lse(s.Hq * s.T);
    auto f = [&] { AttentionForward(pool, s, q.data(), k.data(), v.data(), out.data(), lse.data()); return Project(out, r); };
    f();
    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
    AttentionBackward(pool, s, q.data(), k.data(), v.data(), out.data(), lse.data(), r.data(), dq.data(), dk.data(), dv.data());
    const std::string tag = causal ? "causal " : "full ";
    ExpectGradient(q, dq, f, tag + "dq");
    ExpectGradient(k, dk, f, tag + "dk");
    ExpectGradient(v, dv, f, tag + "dv");
  }
}

TEST(GradOps, CrossEntropy) {
  const int64_t R = 3, V = 7;
  auto z = Random(R * V, 18, 2.0f);
  const std::vector<int64_t> y{0, 6, 3};
  std::vector<float> dz(z.size());
  const double ce = CrossEntropy(z.data(), R, V, y.data(), 0.5f, dz.data());
  EXPECT_GT(ce, 0.0);
  ExpectGradient(z, dz, [&] { return 0.5 * CrossEntropy(z.data(), R, V, y.data(), 1.0f, nullptr); }, "cross-entropy");
}

}  // namespace
}  // namespace dsvl::train
