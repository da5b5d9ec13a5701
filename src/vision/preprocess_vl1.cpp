#include "vision/preprocess_vl1.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"
#include "vision/pil_resample.h"

namespace dsvl {

std::array<uint8_t, 3> Vl1ProcessorConfig::Background() const {
  // image_processing_vlm.py: tuple(int(x * 255) for x in image_mean); the mean is a Python float
  // (double) there, so multiply in double and truncate.
  std::array<uint8_t, 3> bg{};
  for (int c = 0; c < 3; ++c) {
    const double v = static_cast<double>(mean[c]) * 255.0;
    bg[c] = static_cast<uint8_t>(std::clamp(static_cast<int>(v), 0, 255));
  }
  return bg;
}

RgbImage Vl1Canvas(const RgbImage& image, const Vl1ProcessorConfig& config, ThreadPool* pool) {
  if (image.width <= 0 || image.height <= 0) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"VL1 preprocess", "image size", "positive",
                       std::to_string(image.width) + "x" + std::to_string(image.height), ""});
  }
  const double s = static_cast<double>(config.image_size);
  const double max_size = static_cast<double>(std::max(image.width, image.height));
  // Python: max(int(h / max_size * S), min_size); int() truncates.
  const int64_t h = std::max(static_cast<int64_t>(image.height / max_size * s), config.min_size);
  const int64_t w = std::max(static_cast<int64_t>(image.width / max_size * s), config.min_size);
  return ExpandToSquare(PilResizeBicubic(image, w, h, pool), config.Background());
}

Tensor Vl1CanvasToTensor(const RgbImage& canvas, const Vl1ProcessorConfig& config) {
  const int64_t h = canvas.height, w = canvas.width;
  Tensor t = Tensor::Empty(DType::kF32, Shape{3, h, w});
  float* out = t.f32();
  for (int c = 0; c < 3; ++c) {
    // float32 copies of mean/std, as numpy casts them to the image dtype before the arithmetic.
    const float mean = config.mean[c], sd = config.std[c];
    float* plane = out + c * h * w;
    for (int64_t i = 0; i < h * w; ++i) {
      float v = static_cast<float>(static_cast<double>(canvas.pixels[i * 3 + c]) * config.rescale_factor);
      if (config.do_normalize) v = (v - mean) / sd;
      plane[i] = v;
    }
  }
  return t;
}

Tensor PreprocessVl1(const RgbImage& image, const Vl1ProcessorConfig& config, ThreadPool* pool) {
  return Vl1CanvasToTensor(Vl1Canvas(image, config, pool), config);
}

}  // namespace dsvl
