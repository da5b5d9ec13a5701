#include "vision/preprocess_vl2.h"

#include <algorithm>
#include <limits>
#include <string>

#include "dsvl/error.h"
#include "vision/pil_resample.h"

namespace dsvl {

std::pair<int64_t, int64_t> SelectBestResolution(
    int64_t width, int64_t height, const std::vector<std::pair<int64_t, int64_t>>& candidates) {
  if (candidates.empty()) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"VL2 processor", "candidate_resolutions", "non-empty", "[]", ""});
  }
  if (width <= 0 || height <= 0) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"VL2 processor", "image size", "positive",
                                                    std::to_string(width) + "x" + std::to_string(height), ""});
  }
  std::pair<int64_t, int64_t> best = candidates[0];
  int64_t best_effective = 0;
  double best_waste = std::numeric_limits<double>::infinity();  // Python float("inf")
  for (const auto& [cw, ch] : candidates) {
    // Python floats: scale = min(w / W, h / H); int() truncates.
    const double scale = std::min(static_cast<double>(cw) / static_cast<double>(width),
                                  static_cast<double>(ch) / static_cast<double>(height));
    const int64_t dw = static_cast<int64_t>(static_cast<double>(width) * scale);
    const int64_t dh = static_cast<int64_t>(static_cast<double>(height) * scale);
    const int64_t effective = std::min(dw * dh, width * height);
    const double waste = static_cast<double>(cw * ch - effective);
    if (effective > best_effective || (effective == best_effective && waste < best_waste)) {
      best = {cw, ch};
      best_effective = effective;
      best_waste = waste;
    }
  }
  return best;
}

Vl2Canvases Vl2MakeCanvases(const RgbImage& image, const Vl2ProcessorConfig& config, bool cropping,
                            ThreadPool* pool) {
  const int64_t s = config.image_size();
  std::pair<int64_t, int64_t> best{s, s};
  if (cropping) best = SelectBestResolution(image.width, image.height, config.candidate_resolutions);
  // The official tiler emits ceil(best / s) tiles per axis but counts floor(best / s) in the layout;
  // the two only agree for multiples of the tile size, as every released config has.
  if (s <= 0 || best.first % s != 0 || best.second % s != 0) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"VL2 processor", "candidate_resolutions",
                       "multiples of image_size " + std::to_string(s),
                       std::to_string(best.first) + "x" + std::to_string(best.second), ""});
  }
  // color = tuple(int(x * 255) for x in image_mean)
  uint8_t color[3];
  for (int c = 0; c < 3; ++c) {
    color[c] = static_cast<uint8_t>(std::clamp(static_cast<int>(static_cast<double>(config.mean[c]) * 255.0), 0, 255));
  }
  Vl2Canvases out;
  out.views.push_back(PilImageOpsPad(image, s, s, color, pool));
  const RgbImage local = PilImageOpsPad(image, best.first, best.second, color, pool);
  out.tiles_w = best.first / s;
  out.tiles_h = best.second / s;
  for (int64_t y = 0; y + s <= best.second; y += s) {
    for (int64_t x = 0; x + s <= best.first; x += s) out.views.push_back(CropImage(local, x, y, s, s));
  }
  return out;
}

void Vl2CanvasToChw(const RgbImage& view, const Vl2ProcessorConfig& config, float* out) {
  const int64_t n = view.width * view.height;
  for (int c = 0; c < 3; ++c) {
    const float mean = config.mean[c], sd = config.std[c];
    float* plane = out + c * n;
    for (int64_t i = 0; i < n; ++i) {
      float v = static_cast<float>(view.pixels[i * 3 + c]) / 255.0f;
      if (config.normalize) v = (v - mean) / sd;
      plane[i] = v;
    }
  }
}

Vl2Views PreprocessVl2(const RgbImage& image, const Vl2ProcessorConfig& config, bool cropping,
                       ThreadPool* pool) {
  Vl2Canvases canvases = Vl2MakeCanvases(image, config, cropping, pool);
  const int64_t s = config.image_size();
  Vl2Views out;
  out.tiles_w = canvases.tiles_w;
  out.tiles_h = canvases.tiles_h;
  out.pixels = Tensor::Empty(DType::kF32, Shape{static_cast<int64_t>(canvases.views.size()), 3, s, s});
  for (size_t v = 0; v < canvases.views.size(); ++v) {
    Vl2CanvasToChw(canvases.views[v], config, out.pixels.f32() + static_cast<int64_t>(v) * 3 * s * s);
  }
  return out;
}

}  // namespace dsvl
