// Port of the behaviour of Pillow 9.4's ImagingResample (libImaging/Resample.c) for BICUBIC on 8-bit
// RGB, written from its documented algorithm. Every rounding step below exists in Pillow and changes
// output bytes if altered: double-precision coefficients, (int)(x +- 0.5) conversion to 22-bit fixed
// point, an 8-bit clipped intermediate between the passes.
#include "vision/pil_resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "dsvl/error.h"
#include "core/thread_pool.h"

namespace dsvl {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS
constexpr double kBicubicSupport = 2.0;

double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output pixel: first source index, tap count, and `ksize` fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;  // out_size * ksize
};

Coeffs PrecomputeCoeffs(int64_t in_size, int64_t out_size) {
  // Box (0, in_size): Image.resize passes the whole image as the source box.
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kBicubicSupport * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = static_cast<int>(in_size);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = BicubicFilter((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    int32_t* w = &c.weights[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? k[x] / ww : k[x];
      const double scaled = v * (1 << kPrecisionBits);
      w[x] = static_cast<int32_t>(v < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

// Runs fn(begin, end) over [0, n), on the pool when there is one. Rows are independent, so the split
// cannot change results.
void ForRanges(ThreadPool* pool, int64_t n, FunctionRef<void(int64_t, int64_t)> fn) {
  if (pool == nullptr || n < 16) {
    fn(0, n);
  } else {
    pool->ParallelFor(n, 8, fn);
  }
}

inline uint8_t Clip8(int64_t acc) {
  const int64_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal pass over source rows [y0, y0 + rows).
RgbImage ResampleHorizontal(const RgbImage& src, int64_t out_w, int64_t y0, int64_t rows, ThreadPool* pool) {
  const Coeffs c = PrecomputeCoeffs(src.width, out_w);
  RgbImage out;
  out.width = out_w;
  out.height = rows;
  out.pixels.resize(static_cast<size_t>(out_w * rows * 3));
  ForRanges(pool, rows, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      const uint8_t* in = src.row(y0 + y);
      uint8_t* o = out.row(y);
      for (int64_t xx = 0; xx < out_w; ++xx) {
        const int32_t* w = &c.weights[static_cast<size_t>(xx) * c.ksize];
        const uint8_t* p = in + static_cast<int64_t>(c.first[xx]) * 3;
        int64_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < c.count[xx]; ++x) {
          s0 += p[x * 3 + 0] * w[x];
          s1 += p[x * 3 + 1] * w[x];
          s2 += p[x * 3 + 2] * w[x];
        }
        o[xx * 3 + 0] = Clip8(s0);
        o[xx * 3 + 1] = Clip8(s1);
        o[xx * 3 + 2] = Clip8(s2);
      }
    }
  });
  return out;
}

// Vertical pass; `src` holds source rows starting at absolute row `y0`.
RgbImage ResampleVertical(const RgbImage& src, int64_t src_h, int64_t y0, int64_t out_h, ThreadPool* pool) {
  const Coeffs c = PrecomputeCoeffs(src_h, out_h);
  RgbImage out;
  out.width = src.width;
  out.height = out_h;
  out.pixels.resize(static_cast<size_t>(src.width * out_h * 3));
  const int64_t row_len = src.width * 3;
  ForRanges(pool, out_h, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> acc(static_cast<size_t>(row_len));
    for (int64_t yy = begin; yy < end; ++yy) {
      std::fill(acc.begin(), acc.end(), int64_t{1} << (kPrecisionBits - 1));
      const int32_t* w = &c.weights[static_cast<size_t>(yy) * c.ksize];
      for (int y = 0; y < c.count[yy]; ++y) {
        const uint8_t* in = src.row(c.first[yy] + y - y0);
        const int64_t wy = w[y];
        for (int64_t i = 0; i < row_len; ++i) acc[i] += in[i] * wy;
      }
      uint8_t* o = out.row(yy);
      for (int64_t i = 0; i < row_len; ++i) o[i] = Clip8(acc[i]);
    }
  });
  return out;
}

}  // namespace

RgbImage PilResizeBicubic(const RgbImage& src, int64_t w, int64_t h, ThreadPool* pool) {
  if (w < 0 || h < 0) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"PilResizeBicubic", "size", "non-negative",
                                                    std::to_string(w) + "x" + std::to_string(h), ""});
  }
  if (w == src.width && h == src.height) return src;
  if (w == 0 || h == 0 || src.width == 0 || src.height == 0) {
    RgbImage empty;
    empty.width = w;
    empty.height = h;
    empty.pixels.assign(static_cast<size_t>(w * h * 3), 0);
    return empty;
  }
  const bool need_h = w != src.width;
  const bool need_v = h != src.height;
  if (!need_v) return ResampleHorizontal(src, w, 0, src.height, pool);
  if (!need_h) return ResampleVertical(src, src.height, 0, h, pool);
  // Only the source rows the vertical pass reads go through the horizontal pass (as Pillow does); the
  // result is the same as a full pass, just cheaper.
  const Coeffs cv = PrecomputeCoeffs(src.height, h);
  const int64_t y_first = cv.first[0];
  const int64_t y_last = static_cast<int64_t>(cv.first[h - 1]) + cv.count[h - 1];
  const RgbImage tmp = ResampleHorizontal(src, w, y_first, y_last - y_first, pool);
  return ResampleVertical(tmp, src.height, y_first, h, pool);
}

RgbImage FilledImage(int64_t w, int64_t h, RgbColor color) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(static_cast<size_t>(w * h * 3));
  for (int64_t i = 0; i < w * h; ++i) {
    img.pixels[i * 3 + 0] = color[0];
    img.pixels[i * 3 + 1] = color[1];
    img.pixels[i * 3 + 2] = color[2];
  }
  return img;
}

void PasteImage(RgbImage& dst, const RgbImage& src, int64_t x, int64_t y) {
  const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
  const int64_t x1 = std::min(x + src.width, dst.width), y1 = std::min(y + src.height, dst.height);
  if (x0 >= x1 || y0 >= y1) return;
  for (int64_t yy = y0; yy < y1; ++yy) {
    std::memcpy(dst.row(yy) + x0 * 3, src.row(yy - y) + (x0 - x) * 3, static_cast<size_t>((x1 - x0) * 3));
  }
}

RgbImage CropImage(const RgbImage& src, int64_t x, int64_t y, int64_t w, int64_t h) {
  DSVL_CHECK(x >= 0 && y >= 0 && x + w <= src.width && y + h <= src.height, "crop box outside image");
  RgbImage out;
  out.width = w;
  out.height = h;
  out.pixels.resize(static_cast<size_t>(w * h * 3));
  for (int64_t yy = 0; yy < h; ++yy) {
    std::memcpy(out.row(yy), src.row(y + yy) + x * 3, static_cast<size_t>(w * 3));
  }
  return out;
}

RgbImage PilImageOpsPad(const RgbImage& src, int64_t w, int64_t h, const uint8_t color[3], ThreadPool* pool) {
  if (src.width <= 0 || src.height <= 0) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"ImageOps.pad", "image size", "positive",
                                                    std::to_string(src.width) + "x" + std::to_string(src.height), ""});
  }
  // ImageOps.contain: Python floats and round() (half-to-even = nearbyint in the default FP mode).
  const double im_ratio = static_cast<double>(src.width) / static_cast<double>(src.height);
  const double dest_ratio = static_cast<double>(w) / static_cast<double>(h);
  int64_t new_w = w, new_h = h;
  if (im_ratio != dest_ratio) {
    if (im_ratio > dest_ratio) {
      new_h = static_cast<int64_t>(std::nearbyint(static_cast<double>(src.height) / src.width * w));
    } else {
      new_w = static_cast<int64_t>(std::nearbyint(static_cast<double>(src.width) / src.height * h));
    }
  }
  RgbImage resized = PilResizeBicubic(src, new_w, new_h, pool);
  if (new_w == w && new_h == h) return resized;
  RgbImage out = FilledImage(w, h, RgbColor{color[0], color[1], color[2]});
  if (new_w != w) {
    PasteImage(out, resized, static_cast<int64_t>(std::nearbyint((w - new_w) * 0.5)), 0);
  } else {
    PasteImage(out, resized, 0, static_cast<int64_t>(std::nearbyint((h - new_h) * 0.5)));
  }
  return out;
}

RgbImage ExpandToSquare(const RgbImage& src, RgbColor background) {
  if (src.width == src.height) return src;
  const int64_t side = std::max(src.width, src.height);
  RgbImage out = FilledImage(side, side, background);
  // Python floor division on non-negative values = integer division.
  PasteImage(out, src, (side - src.width) / 2, (side - src.height) / 2);
  return out;
}

}  // namespace dsvl
