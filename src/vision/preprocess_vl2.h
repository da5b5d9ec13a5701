// DeepSeek-VL2 DeepseekVLV2Processor image side: dynamic tiling into a padded global view plus
// 384 x 384 local tiles, ToTensor + Normalize.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/image.h"
#include "vision/image_processor_config.h"

namespace dsvl {

class ThreadPool;

// select_best_resolution: the candidate (w, h) keeping the most effective resolution, then the least
// waste; strict comparisons, so the first candidate in list order wins ties.
std::pair<int64_t, int64_t> SelectBestResolution(
    int64_t width, int64_t height, const std::vector<std::pair<int64_t, int64_t>>& candidates);

// The uint8 views in processor order: [global, tile(0,0), tile(0,1), ...] (tiles row-major).
struct Vl2Canvases {
  std::vector<RgbImage> views;
  int64_t tiles_w = 1;
  int64_t tiles_h = 1;
};

struct Vl2Views {
  Tensor pixels;  // f32 [n_views, 3, S, S], S = config.image_size()
  int64_t tiles_w = 1;
  int64_t tiles_h = 1;
};

// cropping = (number of images in the conversation <= 2). Without cropping the local view is one tile
// equal to the global view (two views per image, as the official processor emits).
Vl2Canvases Vl2MakeCanvases(const RgbImage& image, const Vl2ProcessorConfig& config, bool cropping,
                            ThreadPool* pool = nullptr);

// float32(u8) / 255 (torchvision ToTensor), then (x - mean) / std in float32 if config.normalize.
void Vl2CanvasToChw(const RgbImage& view, const Vl2ProcessorConfig& config, float* out);

Vl2Views PreprocessVl2(const RgbImage& image, const Vl2ProcessorConfig& config, bool cropping,
                       ThreadPool* pool = nullptr);

}  // namespace dsvl
