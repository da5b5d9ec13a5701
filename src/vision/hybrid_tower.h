// DeepSeek-VL 7B HybridVisionTower: one [0, 1] 1024x1024 image feeds both branches. High: SAM-B on
// the full image (normalised with CLIP mean/std inside SamEncoder). Low: antialiased bilinear resize
// to the SigLIP size of the UNnormalised pixels (torchvision Resize on the tensor), then SigLIP
// (normalised inside with its own mean/std). concat_type "tuple": the two outputs stay separate for
// the projector. high/low_layer_norm exist in the checkpoint but the official forward never runs them.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "core/yield_fn.h"
#include "vision/sam.h"
#include "vision/vit.h"

namespace dsvl {

class HybridTower {
 public:
  HybridTower(const SamConfig& high, const VitConfig& low, const WeightStore& weights);

  int64_t tokens() const { return low_.tokens(); }
  int64_t high_channels() const { return high_.out_channels(); }
  int64_t low_width() const { return low_.width(); }
  int64_t image_size() const { return high_.config().image_size; }

  // pixels: f32 [3, image_size, image_size] in [0, 1]. high_out [tokens, high_channels],
  // low_out [tokens, low_width], both row-major over the 24x24 grid. yield: between the units of
  // both branches (SamEncoder / VisionTransformer::Forward).
  void Forward(ThreadPool& pool, const float* pixels, float* high_out, float* low_out, YieldFn yield = {}) const;

 private:
  SamEncoder high_;
  VisionTransformer low_;
};

}  // namespace dsvl
