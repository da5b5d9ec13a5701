// Image preprocessing settings, from preprocessor_config.json (DeepSeek-VL) or
// processor_config.json (DeepSeek-VL2).
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace dsvl {

// DeepSeek-VL VLMImageProcessor: resize long side, pad to square, rescale, optional normalise.
struct Vl1ProcessorConfig {
  int64_t image_size = 1024;
  int64_t min_size = 14;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = false;
  // int(mean * 255) per channel: the official code overwrites the JSON background_color with this.
  std::array<uint8_t, 3> Background() const;
};

// DeepSeek-VL2 DeepseekVLV2Processor: dynamic tiling over candidate resolutions.
struct Vl2ProcessorConfig {
  std::vector<std::pair<int64_t, int64_t>> candidate_resolutions;  // (w, h), in file order
  int64_t patch_size = 14;
  int64_t downsample_ratio = 2;
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> std{0.5f, 0.5f, 0.5f};
  bool normalize = true;
  int64_t image_size() const { return candidate_resolutions.empty() ? 384 : candidate_resolutions[0].first; }
};

}  // namespace dsvl
