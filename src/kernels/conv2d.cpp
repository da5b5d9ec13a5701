// Conv2d lowered to one Linear: im2col patches [Ho*Wo, C*kh*kw] (per-thread scratch) times the
// weight seen as [O, C*kh*kw], then a blocked transpose of [Ho*Wo, O] into [O, Ho, Wo]. The
// patch-embed case (kernel == stride, no padding: ViT 14x14/s14, 16x16/s16) copies contiguous rows
// of kw pixels; 1x1 gathers one pixel per channel; everything else (3x3 with padding) copies the
// in-bounds run of each kernel row and zero-fills the rest. ref::Conv2d is the direct loop these
// are tested against.
#include <algorithm>
#include <cstring>

#include "dsvl/error.h"
#include "kernels/ops.h"
#include "kernels/scratch.h"

namespace dsvl::kernels {
namespace {

void Im2Col(ThreadPool& pool, const float* in, const Conv2dArgs& a, int64_t Ho, int64_t Wo, float* cols) {
  const int64_t K = a.C * a.kh * a.kw;
  const bool patch = a.pad == 0 && a.kh == a.stride && a.kw == a.stride;
  pool.ParallelFor(Ho, 1, [&](int64_t y0, int64_t y1) {
    for (int64_t oy = y0; oy < y1; ++oy)
      for (int64_t ox = 0; ox < Wo; ++ox) {
        float* dst = cols + (oy * Wo + ox) * K;
        if (patch) {
          for (int64_t c = 0; c < a.C; ++c)
            for (int64_t ky = 0; ky < a.kh; ++ky, dst += a.kw)
              std::memcpy(dst, in + (c * a.H + oy * a.stride + ky) * a.W + ox * a.stride,
                          static_cast<size_t>(a.kw) * sizeof(float));
          continue;
        }
        const int64_t x0 = ox * a.stride - a.pad;
        // Kernel columns [kx0, kx1) land inside the image.
        const int64_t kx0 = std::max<int64_t>(0, -x0), kx1 = std::min<int64_t>(a.kw, a.W - x0);
        for (int64_t c = 0; c < a.C; ++c)
          for (int64_t ky = 0; ky < a.kh; ++ky, dst += a.kw) {
            const int64_t iy = oy * a.stride - a.pad + ky;
            if (iy < 0 || iy >= a.H || kx1 <= kx0) {
              std::fill(dst, dst + a.kw, 0.0f);
              continue;
            }
            const float* src = in + (c * a.H + iy) * a.W + x0;
            for (int64_t kx = 0; kx < kx0; ++kx) dst[kx] = 0.0f;
            for (int64_t kx = kx0; kx < kx1; ++kx) dst[kx] = src[kx];
            for (int64_t kx = kx1; kx < a.kw; ++kx) dst[kx] = 0.0f;
          }
      }
  });
}

// out[o, p] = tmp[p, o] in 32x32 tiles so both sides stay in cache.
void TransposeToChannels(ThreadPool& pool, const float* tmp, int64_t P, int64_t O, float* out) {
  constexpr int64_t kTile = 32;
  const int64_t otiles = (O + kTile - 1) / kTile;
  pool.ParallelFor(otiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o0 = t * kTile, o1 = std::min(O, o0 + kTile);
      for (int64_t p0 = 0; p0 < P; p0 += kTile) {
        const int64_t p1 = std::min(P, p0 + kTile);
        for (int64_t o = o0; o < o1; ++o)
          for (int64_t p = p0; p < p1; ++p) out[o * P + p] = tmp[p * O + o];
      }
    }
  });
}

}  // namespace

void Conv2d(ThreadPool& pool, const float* in, const Conv2dArgs& a, const TensorView& w,
            const TensorView* bias, float* out) {
  const int64_t Ho = ConvOutSize(a.H, a.kh, a.stride, a.pad);
  const int64_t Wo = ConvOutSize(a.W, a.kw, a.stride, a.pad);
  const int64_t K = a.C * a.kh * a.kw;
  if (a.stride <= 0 || Ho <= 0 || Wo <= 0)
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"Conv2d", "output size", "> 0", std::to_string(Ho) + "x" + std::to_string(Wo), ""});
  if (w.numel() != a.O * K)
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"Conv2d weight", "numel", std::to_string(a.O * K), w.shape.ToString(), ""});
  const int64_t P = Ho * Wo;
  float* cols = ThreadScratchAs<float>(ScratchSlot::kConvCols, static_cast<size_t>(P * K));
  Im2Col(pool, in, a, Ho, Wo, cols);
  float* tmp = ThreadScratchAs<float>(ScratchSlot::kConvOut, static_cast<size_t>(P * a.O));
  Linear(pool, cols, P, K, w.Reshape(Shape{a.O, K}), bias, tmp);
  TransposeToChannels(pool, tmp, P, a.O, out);
}

}  // namespace dsvl::kernels
