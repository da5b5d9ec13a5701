#include "train/vl2_image_layout.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"

namespace dsvl::train {

std::vector<int64_t> Vl2LayoutSources(const Vl2TileGrid& g) {
  if (g.side <= 0 || g.tiles_w <= 0 || g.tiles_h <= 0)
    Throw(ErrorCode::kInvalidArgument, "VL2 layout: side and tile counts must be positive");
  const int64_t s = g.side, view_rows = s * s;
  std::vector<int64_t> src;
  src.reserve(static_cast<size_t>(s * (s + 1) + 1 + g.tiles_h * s * (g.tiles_w * s + 1)));
  auto global = [&] {
    for (int64_t y = 0; y < s; ++y) {
      for (int64_t x = 0; x < s; ++x) src.push_back(y * s + x);
      src.push_back(kVl2NewlineRow);
    }
  };
  // "(th tw) (h w) d -> (th h) (tw w) d": a mosaic row crosses every tile of its tile row.
  auto local = [&] {
    for (int64_t ty = 0; ty < g.tiles_h; ++ty)
      for (int64_t y = 0; y < s; ++y) {
        for (int64_t tx = 0; tx < g.tiles_w; ++tx)
          for (int64_t x = 0; x < s; ++x) src.push_back((1 + ty * g.tiles_w + tx) * view_rows + y * s + x);
        src.push_back(kVl2NewlineRow);
      }
  };
  if (g.global_first) {
    global();
    src.push_back(kVl2SeparatorRow);
    local();
  } else {
    local();
    src.push_back(kVl2SeparatorRow);
    global();
  }
  return src;
}

void Vl2LayoutForward(const std::vector<int64_t>& sources, const float* views, const float* newline,
                      const float* separator, int64_t dim, float* rows) {
  for (size_t i = 0; i < sources.size(); ++i) {
    const int64_t s = sources[i];
    const float* from = s == kVl2NewlineRow ? newline : s == kVl2SeparatorRow ? separator : views + s * dim;
    std::copy_n(from, dim, rows + static_cast<int64_t>(i) * dim);
  }
}

void Vl2LayoutBackward(const std::vector<int64_t>& sources, const float* d_rows, int64_t dim, int64_t view_rows,
                       float* d_views, float* d_newline, float* d_separator) {
  std::fill_n(d_views, view_rows * dim, 0.0f);  // every view row is overwritten below; this guards a bad map
  for (size_t i = 0; i < sources.size(); ++i) {
    const int64_t s = sources[i];
    const float* g = d_rows + static_cast<int64_t>(i) * dim;
    float* acc = s == kVl2NewlineRow ? d_newline : s == kVl2SeparatorRow ? d_separator : nullptr;
    if (s >= 0) {
      DSVL_CHECK(s < view_rows, "VL2 layout source row " + std::to_string(s));
      std::copy_n(g, dim, d_views + s * dim);
    } else if (acc) {
      for (int64_t k = 0; k < dim; ++k) acc[k] += g[k];
    }
  }
}

Vl2LayoutTrainer::Vl2LayoutTrainer(const WeightStore& weights, ParamSet& params, int64_t dim)
    : dim_(dim),
      newline_(params, weights, "image_newline", Shape{dim}),
      separator_(params, weights, "view_seperator", Shape{dim}) {}  // the checkpoint's spelling

int64_t Vl2LayoutTrainer::Forward(const std::vector<Vl2TileGrid>& images, const float* views, float* rows) {
  if (images.empty()) Throw(ErrorCode::kInvalidArgument, "training VL2 tile layout: no images");
  sources_.clear();
  view_rows_ = 0;
  for (const Vl2TileGrid& g : images) {  // each image's view rows follow the previous image's
    for (int64_t s : Vl2LayoutSources(g)) sources_.push_back(s >= 0 ? s + view_rows_ : s);
    view_rows_ += g.views() * g.side * g.side;
  }
  Vl2LayoutForward(sources_, views, newline_.data(), separator_.data(), dim_, rows);
  return static_cast<int64_t>(sources_.size());
}

void Vl2LayoutTrainer::Backward(const float* d_rows, float* d_views) {
  if (sources_.empty()) Throw(ErrorCode::kInvalidArgument, "training VL2 tile layout: Backward before Forward");
  Vl2LayoutBackward(sources_, d_rows, dim_, view_rows_, d_views, newline_.grad(), separator_.grad());
}

}  // namespace dsvl::train
