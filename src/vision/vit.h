// The SigLIP vision transformer of both model families (timm VisionTransformer as the official
// siglip_vit.py builds it): patch-embedding conv, absolute pos_embed, no class token, pre-LN blocks
// with biased qkv, final LayerNorm. The attention-pool head exists in the checkpoints but is never
// run (ignore_head), so it is not loaded. VL1 SigLIP-L uses exact-erf GELU, VL2 SigLIP-SO400M tanh
// GELU; VitConfig says which.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "core/yield_fn.h"
#include "vision/vision_config.h"

namespace dsvl {

class WeightStore;

// Writes the patches of n images as rows [n * num_patches, 3 * p * p] in the conv weight's (c, ky, kx)
// order, normalising on the way if the config asks for it: the patch-embedding conv is then a Linear
// over these rows. Shared with the training tower (train/vit_trainer.h), whose patch-weight gradient
// relies on this same layout.
void VitIm2Patches(ThreadPool& pool, const VitConfig& config, const float* pixels, int64_t n, float* patches);

class VisionTransformer {
 public:
  // Resolves every tensor under config.prefix and checks its shape; throws dsvl::Error naming the
  // tensor on anything missing or mis-shaped.
  VisionTransformer(const VitConfig& config, const WeightStore& weights);

  const VitConfig& config() const { return config_; }
  int64_t tokens() const { return config_.num_patches(); }
  int64_t width() const { return config_.width; }

  // pixels: n images, each f32 [3, image_size, image_size] (normalised inside when
  // config.normalize). out: [n, tokens(), width()] f32. The n images run as one batch: every Linear
  // sees n * tokens() rows; attention runs image by image. Scratch is allocated once per call.
  // yield runs after the patch embedding and after each half block (attention, MLP): the units
  // between which the pool may be lent out (core/yield_fn.h).
  void Forward(ThreadPool& pool, const float* pixels, int64_t n, float* out, YieldFn yield = {}) const;

 private:
  struct Block {
    TensorView norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b;
    TensorView norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };

  VitConfig config_;
  int64_t mlp_hidden_ = 0;
  TensorView patch_w_, patch_b_, pos_embed_, norm_w_, norm_b_;
  std::vector<Block> blocks_;
};

}  // namespace dsvl
