// Scalar reference implementations: the definition of each op's semantics. Written for clarity;
// the SIMD versions are tested against these.
#include <algorithm>
#include <cmath>
#include <vector>

#include "dsvl/error.h"
#include "kernels/ops.h"
#include "kernels/quant_formats.h"
#include "kernels/reference.h"

namespace dsvl::kernels {

void ToF32(const TensorView& w, int64_t begin, int64_t n, float* out) {
  switch (w.dtype) {
    case DType::kF32: std::copy_n(w.as<const float>() + begin, n, out); return;
    case DType::kBF16: {
      const uint16_t* p = w.as<const uint16_t>() + begin;
      for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToF32(p[i]);
      return;
    }
    case DType::kF16: {
      const uint16_t* p = w.as<const uint16_t>() + begin;
      for (int64_t i = 0; i < n; ++i) out[i] = F16ToF32(p[i]);
      return;
    }
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K: {
      // Whole blocks only: callers widen rows (a row of a quantised matrix is whole blocks).
      const int64_t block = GetDTypeInfo(w.dtype).block_elems;
      DSVL_CHECK(begin % block == 0 && n % block == 0,
                 std::string("ToF32: range of ") + DTypeName(w.dtype) + " not block aligned");
      const uint8_t* p = w.as<const uint8_t>() + DTypeBytes(w.dtype, begin);
      quant::DequantizeRow(w.dtype, p, n, out);
      return;
    }
    case DType::kQ8_0x8:
    case DType::kQ4_0x8:
    case DType::kQ4_Kx8: {
      // Whole rows only: each is taken out of its group of 8, then dequantised as a plain row.
      const int64_t K = w.cols();
      DSVL_CHECK(begin % K == 0 && n % K == 0, std::string("ToF32: range of ") + DTypeName(w.dtype) + " not whole rows");
      const DType plain = PlainQuantType(w.dtype);
      std::vector<uint8_t> tmp(DTypeBytes(plain, K));
      for (int64_t row = begin / K; row < (begin + n) / K; ++row) {
        quant::ExtractInterleavedRow(w.dtype, w.data, K, row, 0, K / GetDTypeInfo(plain).block_elems, tmp.data());
        quant::DequantizeRow(plain, tmp.data(), K, out + (row - begin / K) * K);
      }
      return;
    }
    default:
      Throw(ErrorCode::kUnsupported, std::string("kernel input dtype ") + DTypeName(w.dtype));
  }
}

namespace ref {

void Linear(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
            const TensorView* bias, float* y, int64_t ldx, int64_t ldy) {
  const int64_t N = w.rows();
  DSVL_CHECK(w.cols() == K, "Linear: weight " + w.shape.ToString() + " vs K=" + std::to_string(K));
  if (ldx == 0) ldx = K;
  if (ldy == 0) ldy = N;
  std::vector<float> b(static_cast<size_t>(N), 0.0f);
  if (bias && !bias->empty()) ToF32(*bias, 0, N, b.data());
  pool.ParallelFor(N, 16, [&](int64_t n0, int64_t n1) {
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t n = n0; n < n1; ++n) {
      ToF32(w, n * K, K, row.data());
      for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * ldx;
        double acc = 0.0;  // reference accuracy; SIMD versions use f32 accumulators
        for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(xr[k]) * row[static_cast<size_t>(k)];
        y[m * ldy + n] = static_cast<float>(acc) + b[static_cast<size_t>(n)];
      }
    }
  });
}

void GemmNT(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta) {
  pool.ParallelFor(M, 1, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0.0;
        for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(A[m * lda + k]) * B[n * ldb + k];
        float v = alpha * static_cast<float>(acc);
        C[m * ldc + n] = beta == 0.0f ? v : v + beta * C[m * ldc + n];
      }
  });
}

namespace {

// Element e of a K or V operand in the args' kv_dtype, as f32.
float KvAt(const void* base, DType dtype, int64_t e) {
  switch (dtype) {
    case DType::kBF16: return Bf16ToF32(static_cast<const uint16_t*>(base)[e]);
    case DType::kF16: return F16ToF32(static_cast<const uint16_t*>(base)[e]);
    default: return static_cast<const float*>(base)[e];
  }
}

}  // namespace

void Attention(ThreadPool& pool, const AttentionArgs& a) {
  const int64_t group = a.Hq / a.Hkv;
  pool.ParallelFor(a.Tq * a.Hq, 1, [&](int64_t b, int64_t e) {
    std::vector<float> s(static_cast<size_t>(a.Tk));
    for (int64_t idx = b; idx < e; ++idx) {
      int64_t i = idx / a.Hq, h = idx % a.Hq, hk = h / group;
      int64_t limit = a.causal ? std::min(a.Tk, i + (a.Tk - a.Tq) + 1) : a.Tk;
      const float* q = a.q + i * a.ldq + h * a.Dk;
      float mx = -INFINITY;
      for (int64_t j = 0; j < limit; ++j) {
        const int64_t k0 = j * a.ldk + hk * a.Dk;
        double d = 0;
        for (int64_t c = 0; c < a.Dk; ++c) d += static_cast<double>(q[c]) * KvAt(a.k, a.kv_dtype, k0 + c);
        s[static_cast<size_t>(j)] = static_cast<float>(d) * a.scale;
        mx = std::max(mx, s[static_cast<size_t>(j)]);
      }
      double sum = 0;
      for (int64_t j = 0; j < limit; ++j) {
        s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - mx);
        sum += s[static_cast<size_t>(j)];
      }
      float* o = a.out + i * a.ldo + h * a.Dv;
      for (int64_t c = 0; c < a.Dv; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < limit; ++j)
          acc += static_cast<double>(s[static_cast<size_t>(j)]) * KvAt(a.v, a.kv_dtype, j * a.ldv + hk * a.Dv + c);
        o[c] = static_cast<float>(acc / sum);
      }
    }
  });
}

void RmsNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
             float eps, float* y) {
  std::vector<float> w(static_cast<size_t>(cols));
  ToF32(weight, 0, cols, w.data());
  pool.ParallelFor(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      double ss = 0;
      for (int64_t c = 0; c < cols; ++c) ss += static_cast<double>(xr[c]) * xr[c];
      float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(cols)) + eps);
      for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] * inv * w[static_cast<size_t>(c)];
    }
  });
}

void LayerNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
               const TensorView& bias, float eps, float* y) {
  std::vector<float> w(static_cast<size_t>(cols)), b(static_cast<size_t>(cols), 0.0f);
  ToF32(weight, 0, cols, w.data());
  if (!bias.empty()) ToF32(bias, 0, cols, b.data());
  pool.ParallelFor(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      double mean = 0;
      for (int64_t c = 0; c < cols; ++c) mean += xr[c];
      mean /= static_cast<double>(cols);
      double var = 0;
      for (int64_t c = 0; c < cols; ++c) var += (xr[c] - mean) * (xr[c] - mean);
      var /= static_cast<double>(cols);
      float inv = 1.0f / std::sqrt(static_cast<float>(var) + eps);
      float m = static_cast<float>(mean);
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = (xr[c] - m) * inv * w[static_cast<size_t>(c)] + b[static_cast<size_t>(c)];
    }
  });
}

void SoftmaxRow(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

namespace {
template <typename F>
void Elementwise(ThreadPool& pool, float* x, int64_t n, F f) {
  pool.ParallelFor(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = f(x[i]);
  });
}
}  // namespace

void GeluErf(ThreadPool& pool, float* x, int64_t n) {
  Elementwise(pool, x, n, [](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); });
}
void GeluTanh(ThreadPool& pool, float* x, int64_t n) {
  Elementwise(pool, x, n, [](float v) {
    return 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  });
}
void Silu(ThreadPool& pool, float* x, int64_t n) {
  Elementwise(pool, x, n, [](float v) { return v / (1.0f + std::exp(-v)); });
}
void SwiGlu(ThreadPool& pool, float* gate, const float* up, int64_t n) {
  pool.ParallelFor(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  });
}
void Add(ThreadPool& pool, float* y, const float* x, int64_t n) {
  pool.ParallelFor(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] += x[i];
  });
}

void Conv2d(ThreadPool& pool, const float* in, const Conv2dArgs& a, const TensorView& w,
            const TensorView* bias, float* out) {
  const int64_t Ho = ConvOutSize(a.H, a.kh, a.stride, a.pad);
  const int64_t Wo = ConvOutSize(a.W, a.kw, a.stride, a.pad);
  const int64_t K = a.C * a.kh * a.kw;
  DSVL_CHECK(w.numel() == a.O * K, "Conv2d weight " + w.shape.ToString());
  std::vector<float> b(static_cast<size_t>(a.O), 0.0f);
  if (bias && !bias->empty()) ToF32(*bias, 0, a.O, b.data());
  // Direct convolution, one output channel per task, double accumulation.
  pool.ParallelFor(a.O, 1, [&](int64_t o0, int64_t o1) {
    std::vector<float> wo(static_cast<size_t>(K));
    for (int64_t o = o0; o < o1; ++o) {
      ToF32(w, o * K, K, wo.data());
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = 0.0;
          for (int64_t c = 0; c < a.C; ++c)
            for (int64_t ky = 0; ky < a.kh; ++ky) {
              int64_t iy = oy * a.stride - a.pad + ky;
              if (iy < 0 || iy >= a.H) continue;
              for (int64_t kx = 0; kx < a.kw; ++kx) {
                int64_t ix = ox * a.stride - a.pad + kx;
                if (ix < 0 || ix >= a.W) continue;
                acc += static_cast<double>(in[(c * a.H + iy) * a.W + ix]) *
                       wo[static_cast<size_t>((c * a.kh + ky) * a.kw + kx)];
              }
            }
          out[(o * Ho + oy) * Wo + ox] = static_cast<float>(acc) + b[static_cast<size_t>(o)];
        }
    }
  });
}

}  // namespace ref

void FillRopeTable(const int64_t* positions, int64_t n, int64_t dim, float theta, float* cos_out,
                   float* sin_out) {
  const int64_t half = dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  // inv_freq = 1 / theta^(arange(0, dim, 2) / dim), evaluated in f32 like torch.
  for (int64_t i = 0; i < half; ++i)
    inv_freq[static_cast<size_t>(i)] =
        1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(dim));
  for (int64_t p = 0; p < n; ++p) {
    float t = static_cast<float>(positions[p]);
    for (int64_t i = 0; i < half; ++i) {
      float ang = t * inv_freq[static_cast<size_t>(i)];
      cos_out[p * half + i] = std::cos(ang);
      sin_out[p * half + i] = std::sin(ang);
    }
  }
}

void ApplyRope(float* x, int64_t T, int64_t H, int64_t head_stride, int64_t ld, int64_t dim,
               const float* cos, const float* sin, RopeStyle style) {
  const int64_t half = dim / 2;
  for (int64_t t = 0; t < T; ++t) {
    const float* c = cos + t * half;
    const float* s = sin + t * half;
    for (int64_t h = 0; h < H; ++h) {
      float* v = x + t * ld + h * head_stride;
      for (int64_t i = 0; i < half; ++i) {
        int64_t i0 = style == RopeStyle::kRotateHalf ? i : 2 * i;
        int64_t i1 = style == RopeStyle::kRotateHalf ? i + half : 2 * i + 1;
        float a = v[i0], b = v[i1];
        v[i0] = a * c[i] - b * s[i];
        v[i1] = b * c[i] + a * s[i];
      }
    }
  }
}

namespace {
struct AxisWeights {
  std::vector<int64_t> start, size;
  std::vector<float> w;  // [out, max_size]
  int64_t max_size = 0;
};

// Filter weights for one axis, PyTorch's _upsample_bilinear2d_aa / upsample_bilinear2d semantics.
AxisWeights ComputeAxis(int64_t in, int64_t out, bool antialias) {
  AxisWeights r;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  r.start.resize(static_cast<size_t>(out));
  r.size.resize(static_cast<size_t>(out));
  if (antialias) {
    const float support = scale >= 1.0f ? scale : 1.0f;
    const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    r.max_size = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
    r.w.assign(static_cast<size_t>(out * r.max_size), 0.0f);
    for (int64_t i = 0; i < out; ++i) {
      float center = scale * (static_cast<float>(i) + 0.5f);
      int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5f), 0);
      int64_t xsize = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5f), in) - xmin;
      float total = 0;
      float* wi = r.w.data() + i * r.max_size;
      for (int64_t j = 0; j < xsize; ++j) {
        float t = (static_cast<float>(j + xmin) - center + 0.5f) * invscale;
        float f = std::max(0.0f, 1.0f - std::fabs(t));
        wi[j] = f;
        total += f;
      }
      for (int64_t j = 0; j < xsize; ++j) wi[j] = total != 0.0f ? wi[j] / total : 0.0f;
      r.start[static_cast<size_t>(i)] = xmin;
      r.size[static_cast<size_t>(i)] = xsize;
    }
  } else {
    r.max_size = 2;
    r.w.assign(static_cast<size_t>(out * 2), 0.0f);
    for (int64_t i = 0; i < out; ++i) {
      float src = scale * (static_cast<float>(i) + 0.5f) - 0.5f;
      if (src < 0) src = 0;
      int64_t i0 = static_cast<int64_t>(src);
      int64_t i1 = std::min(i0 + 1, in - 1);
      float l1 = src - static_cast<float>(i0);
      r.start[static_cast<size_t>(i)] = i0;
      r.size[static_cast<size_t>(i)] = 2;
      r.w[static_cast<size_t>(i * 2)] = 1.0f - l1;
      r.w[static_cast<size_t>(i * 2 + 1)] = i1 == i0 ? 0.0f : l1;
      if (i1 == i0) r.w[static_cast<size_t>(i * 2)] = 1.0f;
    }
  }
  return r;
}
}  // namespace

void ResizeBilinear(ThreadPool& pool, const float* in, int64_t C, int64_t H, int64_t W, float* out,
                    int64_t Ho, int64_t Wo, bool antialias) {
  AxisWeights ax = ComputeAxis(W, Wo, antialias), ay = ComputeAxis(H, Ho, antialias);
  // Horizontal pass first (as PyTorch's separable kernel), then vertical.
  std::vector<float> tmp(static_cast<size_t>(C * H * Wo));
  pool.ParallelFor(C * H, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = in + r * W;
      for (int64_t x = 0; x < Wo; ++x) {
        const float* wx = ax.w.data() + x * ax.max_size;
        int64_t s = ax.start[static_cast<size_t>(x)];
        float acc = 0;
        for (int64_t j = 0; j < ax.size[static_cast<size_t>(x)]; ++j)
          acc += src[std::min(s + j, W - 1)] * wx[j];
        tmp[static_cast<size_t>(r * Wo + x)] = acc;
      }
    }
  });
  pool.ParallelFor(C * Ho, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t c = r / Ho, y = r % Ho;
      const float* wy = ay.w.data() + y * ay.max_size;
      int64_t s = ay.start[static_cast<size_t>(y)];
      float* dst = out + r * Wo;
      for (int64_t x = 0; x < Wo; ++x) dst[x] = 0;
      for (int64_t j = 0; j < ay.size[static_cast<size_t>(y)]; ++j) {
        const float* srow = tmp.data() + (c * H + std::min(s + j, H - 1)) * Wo;
        for (int64_t x = 0; x < Wo; ++x) dst[x] += srow[x] * wy[j];
      }
    }
  });
}

}  // namespace dsvl::kernels
