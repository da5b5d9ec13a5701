// Generic vectorised elementwise and row kernels over a vector-traits type V (see vec_avx2.h).
// Included only by the per-ISA translation units (unnamed namespace: one copy per ISA).
//
// Accuracy (checked in tests/kernels/rowops_test.cpp):
//   Exp: Cephes-style range reduction + degree-6 polynomial, ~2 ulp on [-87, 88].
//   GeluErf: erfc(z) = t·P(t)·exp(-z²), t = 1/(1 + p·z) (Abramowitz & Stegun 7.1.26, |error| <=
//   1.5e-7 in erf), arranged so that no cancellation occurs for negative x: gelu(x) = (h + |h|) -
//   |h|·erfc(|x|/√2) with h = x/2. Absolute error <= ~4e-7 for |x| <= 8 and exact saturation beyond.
#pragma once

#include <cstdint>

#include "kernels/simd.h"

namespace dsvl::kernels::simd {
namespace {

template <class V>
struct RowImpl {
  using F = typename V::F;
  static constexpr int W = V::kLanes;

  static F Exp(F x) {
    x = V::Min(V::Max(x, V::Set1(-87.0f)), V::Set1(88.0f));
    const F n = V::RoundNearest(V::Mul(x, V::Set1(1.44269504088896341f)));
    F r = V::Fnma(n, V::Set1(0.693359375f), x);
    r = V::Fnma(n, V::Set1(-2.12194440e-4f), r);
    F p = V::Set1(1.9875691500e-4f);
    p = V::Fma(p, r, V::Set1(1.3981999507e-3f));
    p = V::Fma(p, r, V::Set1(8.3334519073e-3f));
    p = V::Fma(p, r, V::Set1(4.1665795894e-2f));
    p = V::Fma(p, r, V::Set1(1.6666665459e-1f));
    p = V::Fma(p, r, V::Set1(5.0000001201e-1f));
    p = V::Fma(p, V::Mul(r, r), V::Add(r, V::Set1(1.0f)));
    return V::Mul(p, V::Pow2(n));
  }

  static F GeluErfV(F x) {
    const F h = V::Mul(x, V::Set1(0.5f));
    const F ah = V::Abs(h);
    const F z = V::Mul(V::Abs(x), V::Set1(0.70710678118654752f));
    const F t = V::Div(V::Set1(1.0f), V::Fma(z, V::Set1(0.3275911f), V::Set1(1.0f)));
    F p = V::Set1(1.061405429f);
    p = V::Fma(p, t, V::Set1(-1.453152027f));
    p = V::Fma(p, t, V::Set1(1.421413741f));
    p = V::Fma(p, t, V::Set1(-0.284496736f));
    p = V::Fma(p, t, V::Set1(0.254829592f));
    const F erfc = V::Mul(V::Mul(p, t), Exp(V::Sub(V::Zero(), V::Mul(z, z))));
    return V::Fnma(ah, erfc, V::Add(h, ah));
  }
  // 0.5·x·(1 + tanh(u)) == x / (1 + exp(-2u)), u = √(2/π)(x + 0.044715x³).
  static F GeluTanhV(F x) {
    const F u = V::Mul(V::Set1(0.7978845608028654f), V::Fma(V::Mul(V::Set1(0.044715f), x), V::Mul(x, x), x));
    return V::Div(x, V::Add(V::Set1(1.0f), Exp(V::Mul(V::Set1(-2.0f), u))));
  }
  static F SiluV(F x) { return V::Div(x, V::Add(V::Set1(1.0f), Exp(V::Sub(V::Zero(), x)))); }

  // Applies f to n floats; the tail goes through a padded local vector so every element sees the
  // same arithmetic.
  template <typename Fn>
  static void Map(float* x, int64_t n, Fn f) {
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(x + i, f(V::Load(x + i)));
    if (i < n) {
      alignas(64) float tmp[W] = {};
      for (int64_t j = i; j < n; ++j) tmp[j - i] = x[j];
      V::Store(tmp, f(V::Load(tmp)));
      for (int64_t j = i; j < n; ++j) x[j] = tmp[j - i];
    }
  }

  static void GeluErf(float* x, int64_t n) { Map(x, n, [](F v) { return GeluErfV(v); }); }
  static void GeluTanh(float* x, int64_t n) { Map(x, n, [](F v) { return GeluTanhV(v); }); }
  static void Silu(float* x, int64_t n) { Map(x, n, [](F v) { return SiluV(v); }); }
  static void SwiGlu(float* gate, const float* up, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(gate + i, V::Mul(SiluV(V::Load(gate + i)), V::Load(up + i)));
    if (i < n) {
      alignas(64) float g[W] = {}, u[W] = {};
      for (int64_t j = i; j < n; ++j) g[j - i] = gate[j], u[j - i] = up[j];
      V::Store(g, V::Mul(SiluV(V::Load(g)), V::Load(u)));
      for (int64_t j = i; j < n; ++j) gate[j] = g[j - i];
    }
  }
  static void Add(float* y, const float* x, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(y + i, V::Add(V::Load(y + i), V::Load(x + i)));
    for (; i < n; ++i) y[i] += x[i];
  }

  static float MaxOf(const float* x, int64_t n) {
    F m = V::Set1(-__builtin_inff());
    int64_t i = 0;
    for (; i + W <= n; i += W) m = V::Max(m, V::Load(x + i));
    float r = V::MaxOf(m);
    for (; i < n; ++i) r = x[i] > r ? x[i] : r;
    return r;
  }
  // x[i] = exp(x[i] - shift); returns the sum.
  static float ExpShiftSum(float* x, int64_t n, float shift) {
    const F s = V::Set1(shift);
    F acc = V::Zero();
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      const F e = Exp(V::Sub(V::Load(x + i), s));
      V::Store(x + i, e);
      acc = V::Add(acc, e);
    }
    float sum = V::Sum(acc);
    if (i < n) {
      alignas(64) float tmp[W];
      for (int j = 0; j < W; ++j) tmp[j] = i + j < n ? x[i + j] : shift;
      V::Store(tmp, Exp(V::Sub(V::Load(tmp), s)));
      for (int64_t j = i; j < n; ++j) {
        x[j] = tmp[j - i];
        sum += tmp[j - i];
      }
    }
    return sum;
  }
  static void Scale(float* x, int64_t n, float s) {
    const F v = V::Set1(s);
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(x + i, V::Mul(V::Load(x + i), v));
    for (; i < n; ++i) x[i] *= s;
  }
  static void Softmax(float* x, int64_t n) {
    if (n <= 0) return;
    const float mx = MaxOf(x, n);
    const float sum = ExpShiftSum(x, n, mx);
    Scale(x, n, 1.0f / sum);
  }

  static float SumSquares(const float* x, int64_t n) {
    F a0 = V::Zero(), a1 = V::Zero();
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      const F v0 = V::Load(x + i), v1 = V::Load(x + i + W);
      a0 = V::Fma(v0, v0, a0);
      a1 = V::Fma(v1, v1, a1);
    }
    for (; i + W <= n; i += W) {
      const F v = V::Load(x + i);
      a0 = V::Fma(v, v, a0);
    }
    float s = V::Sum(V::Add(a0, a1));
    for (; i < n; ++i) s += x[i] * x[i];
    return s;
  }
  static void RmsNormRow(const float* x, int64_t n, const float* w, float eps, float* y) {
    const float inv = 1.0f / __builtin_sqrtf(SumSquares(x, n) / static_cast<float>(n) + eps);
    const F vi = V::Set1(inv);
    int64_t i = 0;
    for (; i + W <= n; i += W) V::Store(y + i, V::Mul(V::Mul(V::Load(x + i), vi), V::Load(w + i)));
    for (; i < n; ++i) y[i] = x[i] * inv * w[i];
  }
  static void LayerNormRow(const float* x, int64_t n, const float* w, const float* b, float eps,
                           float* y) {
    F acc = V::Zero();
    int64_t i = 0;
    for (; i + W <= n; i += W) acc = V::Add(acc, V::Load(x + i));
    float sum = V::Sum(acc);
    for (; i < n; ++i) sum += x[i];
    const float mean = sum / static_cast<float>(n);
    const F vm = V::Set1(mean);
    F var = V::Zero();
    for (i = 0; i + W <= n; i += W) {
      const F d = V::Sub(V::Load(x + i), vm);
      var = V::Fma(d, d, var);
    }
    float vs = V::Sum(var);
    for (; i < n; ++i) vs += (x[i] - mean) * (x[i] - mean);
    const float inv = 1.0f / __builtin_sqrtf(vs / static_cast<float>(n) + eps);
    const F vi = V::Set1(inv);
    for (i = 0; i + W <= n; i += W) {
      F r = V::Mul(V::Mul(V::Sub(V::Load(x + i), vm), vi), V::Load(w + i));
      if (b) r = V::Add(r, V::Load(b + i));
      V::Store(y + i, r);
    }
    for (; i < n; ++i) y[i] = (x[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
  }

  static RowOps Table() {
    return RowOps{&GeluErf, &GeluTanh, &Silu, &SwiGlu, &Add, &Softmax, &RmsNormRow, &LayerNormRow};
  }
};

}  // namespace
}  // namespace dsvl::kernels::simd
