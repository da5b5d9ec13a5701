#include "train/grad_ops.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "dsvl/error.h"
#include "kernels/isa.h"
#include "kernels/ops.h"

namespace dsvl::train {
namespace {

// out[c, r] = in[r, c] for in[R, C].
void Transpose(ThreadPool& pool, const float* in, int64_t R, int64_t C, float* out) {
  pool.ParallelFor(C, 16, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = 0; r < R; ++r) out[c * R + r] = in[r * C + c];
  });
}

// Eight independent partial sums: the compiler keeps them in SIMD registers (one dependent add
// chain would be bound by its latency), and the attention loops spend their time here.
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// w as [N, K] (a patch-embedding conv weight [N, C, kh, kw] is such a matrix), or an error.
TensorView AsMatrix(const TensorView& w, int64_t N, int64_t K) {
  if (w.rank() < 1 || w.dim(0) != N || w.numel() != N * K)
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"training linear", "weight", Shape{N, K}.ToString(),
                                                    w.shape.ToString(), ""});
  return w.rank() == 2 ? w : w.Reshape(Shape{N, K});
}

}  // namespace

void LinearForward(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& weight,
                   int64_t N, const float* bias, float* y) {
  const TensorView w = AsMatrix(weight, N, K);
  if (w.dtype == DType::kF32) {
    kernels::GemmNT(pool, M, N, K, x, K, w.f32(), K, y, N);
  } else {
    const kernels::ScopedBf16Activations exact(false);  // training keeps f32 activations
    kernels::Linear(pool, x, M, K, w, nullptr, y);
  }
  if (bias)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) y[m * N + n] += bias[n];
}

void LinearBackward(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& weight,
                    int64_t N, const float* dy, float* dx, float* dw, float* dbias) {
  const TensorView w = AsMatrix(weight, N, K);
  if (dx) {
    // dx[M,K] += dy[M,N] · w[N,K]: for each panel of columns [k0, k0 + kc), the panel of wᵀ
    // [kc, N] in f32 (what GemmNT takes as its second operand), then dx[:, k0:] += dy · panelᵀ.
    if (w.dtype != DType::kF32 && w.dtype != DType::kBF16 && w.dtype != DType::kF16)
      Throw(ErrorCode::kUnsupported, std::string("training: backward through a ") + DTypeName(w.dtype) + " weight");
    constexpr int64_t kPanelFloats = int64_t{1} << 22;  // 16 MB
    const int64_t kc = std::clamp<int64_t>(kPanelFloats / std::max<int64_t>(N, 1), 16, K);
    std::vector<float> panel(static_cast<size_t>(std::min(kc, K) * N));
    for (int64_t k0 = 0; k0 < K; k0 += kc) {
      const int64_t nk = std::min(kc, K - k0);
      pool.ParallelFor(N, 64, [&](int64_t n0, int64_t n1) {
        float row[256];
        for (int64_t n = n0; n < n1; ++n)
          for (int64_t c0 = 0; c0 < nk; c0 += 256) {
            const int64_t c = std::min<int64_t>(256, nk - c0);
            const float* src = row;
            if (w.dtype == DType::kF32) src = w.f32() + n * K + k0 + c0;
            else kernels::ToF32(w, n * K + k0 + c0, c, row);
            for (int64_t i = 0; i < c; ++i) panel[static_cast<size_t>((c0 + i) * N + n)] = src[i];
          }
      });
      kernels::GemmNT(pool, M, nk, N, dy, N, panel.data(), N, dx + k0, K, 1.0f, 1.0f);
    }
  }
  if (dw) {  // dw[N,K] += dyᵀ[N,M] · x[M,K], as GemmNT of dyᵀ against xᵀ[K,M]
    std::vector<float> dyt(static_cast<size_t>(N * M)), xt(static_cast<size_t>(K * M));
    Transpose(pool, dy, M, N, dyt.data());
    Transpose(pool, x, M, K, xt.data());
    kernels::GemmNT(pool, N, K, M, dyt.data(), M, xt.data(), M, dw, K, 1.0f, 1.0f);
  }
  if (dbias)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) dbias[n] += dy[m * N + n];
}

void RmsNormForward(const float* x, int64_t T, int64_t n, const float* w, float eps, float* y,
                    float* rstd) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * n;
    const float r = 1.0f / std::sqrt(Dot(xr, xr, n) / static_cast<float>(n) + eps);
    rstd[t] = r;
    for (int64_t i = 0; i < n; ++i) y[t * n + i] = w[i] * (xr[i] * r);
  }
}

void RmsNormBackward(const float* x, int64_t T, int64_t n, const float* w, const float* rstd,
                     const float* dy, float* dx, float* dw) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * n;
    const float* g = dy + t * n;
    const float r = rstd[t];
    float gx = 0.0f;  // Σ (dy ⊙ w) ⊙ x
    for (int64_t i = 0; i < n; ++i) gx += g[i] * w[i] * xr[i];
    const float c = gx * r * r * r / static_cast<float>(n);
    if (dx)
      for (int64_t i = 0; i < n; ++i) dx[t * n + i] += g[i] * w[i] * r - xr[i] * c;
    if (dw)
      for (int64_t i = 0; i < n; ++i) dw[i] += g[i] * xr[i] * r;
  }
}

void LayerNormForward(const float* x, int64_t T, int64_t n, const float* w, const float* b, float eps,
                      float* y, float* mean, float* rstd) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * n;
    float mu = 0.0f;
    for (int64_t i = 0; i < n; ++i) mu += xr[i];
    mu /= static_cast<float>(n);
    float var = 0.0f;
    for (int64_t i = 0; i < n; ++i) var += (xr[i] - mu) * (xr[i] - mu);
    const float r = 1.0f / std::sqrt(var / static_cast<float>(n) + eps);
    mean[t] = mu;
    rstd[t] = r;
    for (int64_t i = 0; i < n; ++i) y[t * n + i] = (xr[i] - mu) * r * w[i] + b[i];
  }
}

void LayerNormBackward(const float* x, int64_t T, int64_t n, const float* w, const float* mean,
                       const float* rstd, const float* dy, float* dx, float* dw, float* db) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * n;
    const float* g = dy + t * n;
    const float mu = mean[t], r = rstd[t];
    float sum_g = 0.0f, sum_gx = 0.0f;  // Σ dy⊙w and Σ dy⊙w⊙x̂
    for (int64_t i = 0; i < n; ++i) {
      const float xh = (xr[i] - mu) * r;
      sum_g += g[i] * w[i];
      sum_gx += g[i] * w[i] * xh;
    }
    const float inv_n = 1.0f / static_cast<float>(n);
    for (int64_t i = 0; i < n; ++i) {
      const float xh = (xr[i] - mu) * r;
      if (dx) dx[t * n + i] += r * (g[i] * w[i] - inv_n * sum_g - xh * inv_n * sum_gx);
      if (dw) dw[i] += g[i] * xh;
      if (db) db[i] += g[i];
    }
  }
}

void GeluErfForward(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

void GeluErfBackward(const float* x, int64_t n, const float* dy, float* dx) {
  constexpr float kInvSqrt2Pi = 0.39894228040143268f;
  for (int64_t i = 0; i < n; ++i) {
    const float cdf = 0.5f * (1.0f + std::erf(x[i] * 0.70710678118654752f));
    const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x[i] * x[i]);
    dx[i] += dy[i] * (cdf + x[i] * pdf);
  }
}

void GeluTanhForward(const float* x, int64_t n, float* y) {
  constexpr float kC = 0.79788456080286536f;  // sqrt(2/pi)
  for (int64_t i = 0; i < n; ++i) {
    const float u = kC * (x[i] + 0.044715f * x[i] * x[i] * x[i]);
    y[i] = 0.5f * x[i] * (1.0f + std::tanh(u));
  }
}

void GeluTanhBackward(const float* x, int64_t n, const float* dy, float* dx) {
  constexpr float kC = 0.79788456080286536f;
  for (int64_t i = 0; i < n; ++i) {
    const float x2 = x[i] * x[i];
    const float th = std::tanh(kC * (x[i] + 0.044715f * x2 * x[i]));
    const float d = 0.5f * (1.0f + th) + 0.5f * x[i] * (1.0f - th * th) * kC * (1.0f + 3.0f * 0.044715f * x2);
    dx[i] += dy[i] * d;
  }
}

void SwiGluForward(const float* g, const float* u, int64_t n, float* s) {
  for (int64_t i = 0; i < n; ++i) s[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void SwiGluBackward(const float* g, const float* u, int64_t n, const float* ds, float* dg, float* du) {
  for (int64_t i = 0; i < n; ++i) {
    const float sig = 1.0f / (1.0f + std::exp(-g[i]));
    const float silu = g[i] * sig;
    du[i] = ds[i] * silu;
    dg[i] = ds[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
  }
}

void RopeRotateHalf(float* x, int64_t T, int64_t H, int64_t D, int64_t dim, const float* cos,
                    const float* sin, bool inverse) {
  const int64_t half = dim / 2;
  const float sign = inverse ? -1.0f : 1.0f;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      float* v = x + (t * H + h) * D;
      for (int64_t i = 0; i < half; ++i) {
        const float c = cos[t * half + i], s = sign * sin[t * half + i];
        const float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
      }
    }
}

void AttentionForward(ThreadPool& pool, const AttentionShape& s, const float* q, const float* k,
                      const float* v, float* out, float* lse) {
  const int64_t T = s.T, D = s.D, group = s.Hq / s.Hkv;
  pool.Run(s.Hq * T, [&](int64_t task, int) {
    std::vector<float> p(static_cast<size_t>(T));
    const int64_t h = task / T, i = task % T, g = h / group;
    const float* qi = q + (i * s.Hq + h) * D;
    const int64_t n = s.causal ? i + 1 : T;
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      p[static_cast<size_t>(j)] = s.scale * Dot(qi, k + (j * s.Hkv + g) * D, D);
      mx = std::max(mx, p[static_cast<size_t>(j)]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += (p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - mx));
    float* o = out + (i * s.Hq + h) * D;
    std::fill(o, o + D, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float pj = p[static_cast<size_t>(j)] / sum;
      const float* vj = v + (j * s.Hkv + g) * D;
      for (int64_t d = 0; d < D; ++d) o[d] += pj * vj[d];
    }
    lse[h * T + i] = mx + std::log(sum);
  });
}

void AttentionBackward(ThreadPool& pool, const AttentionShape& s, const float* q, const float* k,
                       const float* v, const float* out, const float* lse, const float* dout,
                       float* dq, float* dk, float* dv) {
  const int64_t T = s.T, D = s.D, group = s.Hq / s.Hkv;
  // delta[h, i] = dout_i · out_i: the softmax backward's per-row term.
  std::vector<float> delta(static_cast<size_t>(s.Hq * T));
  for (int64_t h = 0; h < s.Hq; ++h)
    for (int64_t i = 0; i < T; ++i)
      delta[static_cast<size_t>(h * T + i)] = Dot(dout + (i * s.Hq + h) * D, out + (i * s.Hq + h) * D, D);
  // ds_ij = p_ij (dout_i·v_j - delta_i), p_ij = exp(scale q_i·k_j - lse_i), recomputed.
  auto ds_of = [&](int64_t h, int64_t i, int64_t j, float* p_out) {
    const int64_t g = h / group;
    const float p = std::exp(s.scale * Dot(q + (i * s.Hq + h) * D, k + (j * s.Hkv + g) * D, D) -
                             lse[h * T + i]);
    *p_out = p;
    return p * (Dot(dout + (i * s.Hq + h) * D, v + (j * s.Hkv + g) * D, D) - delta[static_cast<size_t>(h * T + i)]);
  };
  // dq: one task per (query head, row), each writing only its own row.
  pool.Run(s.Hq * T, [&](int64_t task, int) {
    const int64_t h = task / T, i = task % T, g = h / group;
    float* dqi = dq + (i * s.Hq + h) * D;
    const int64_t n = s.causal ? i + 1 : T;
    for (int64_t j = 0; j < n; ++j) {
      float p;
      const float ds = ds_of(h, i, j, &p) * s.scale;
      const float* kj = k + (j * s.Hkv + g) * D;
      for (int64_t d = 0; d < D; ++d) dqi[d] += ds * kj[d];
    }
  });
  // dk, dv: one task per (kv head, key row), summing over its query heads and the rows that see it.
  pool.Run(s.Hkv * T, [&](int64_t task, int) {
    const int64_t g = task / T, j = task % T;
    float* dkj = dk + (j * s.Hkv + g) * D;
    float* dvj = dv + (j * s.Hkv + g) * D;
    for (int64_t h = g * group; h < (g + 1) * group; ++h)
      for (int64_t i = s.causal ? j : 0; i < T; ++i) {
        float p;
        const float ds = ds_of(h, i, j, &p) * s.scale;
        const float* qi = q + (i * s.Hq + h) * D;
        const float* doi = dout + (i * s.Hq + h) * D;
        for (int64_t d = 0; d < D; ++d) {
          dkj[d] += ds * qi[d];
          dvj[d] += p * doi[d];
        }
      }
  });
}

double CrossEntropy(const float* z, int64_t R, int64_t V, const int64_t* targets, float scale,
                    float* dz) {
  double total = 0.0;
  for (int64_t r = 0; r < R; ++r) {
    const float* zr = z + r * V;
    float mx = -INFINITY;
    for (int64_t c = 0; c < V; ++c) mx = std::max(mx, zr[c]);
    double sum = 0.0;
    for (int64_t c = 0; c < V; ++c) sum += std::exp(static_cast<double>(zr[c] - mx));
    const double lse = mx + std::log(sum);
    total += lse - zr[targets[r]];
    if (dz) {
      for (int64_t c = 0; c < V; ++c)
        dz[r * V + c] = scale * static_cast<float>(std::exp(zr[c] - lse));
      dz[r * V + targets[r]] -= scale;
    }
  }
  return total;
}

}  // namespace dsvl::train
