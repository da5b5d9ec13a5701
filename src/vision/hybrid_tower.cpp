#include "vision/hybrid_tower.h"

#include <string>

#include "dsvl/error.h"
#include "kernels/ops.h"

namespace dsvl {

HybridTower::HybridTower(const SamConfig& high, const VitConfig& low, const WeightStore& weights)
    : high_(high, weights), low_(low, weights) {
  if (high_.out_tokens() != low_.tokens()) {
    Throw(ErrorCode::kCorruptData,
          ErrorContext{"HybridVisionTower", "tokens per image", std::to_string(high_.out_tokens()) + " (SAM)",
                       std::to_string(low_.tokens()) + " (SigLIP)", "the two branches must align token by token"});
  }
}

void HybridTower::Forward(ThreadPool& pool, const float* pixels, float* high_out, float* low_out,
                          YieldFn yield) const {
  const int64_t S = image_size(), L = low_.config().image_size;
  high_.Forward(pool, pixels, high_out, yield);
  Tensor low_pixels = Tensor::Empty(DType::kF32, Shape{3, L, L});
  kernels::ResizeBilinear(pool, pixels, 3, S, S, low_pixels.f32(), L, L, /*antialias=*/true);
  low_.Forward(pool, low_pixels.f32(), 1, low_out, yield);
}

}  // namespace dsvl
