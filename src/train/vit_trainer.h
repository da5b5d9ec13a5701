// Training forward and backward of the SigLIP vision tower (vision/vit.h: pre-LN timm ViT without
// class token, fused qkv with bias, full attention, final LayerNorm). The forward is the inference
// tower's computation, in f32 on the training ops, keeping each block's activations (attention keeps
// only its log-sum-exp rows); the backward takes the gradient of the tower's output (what the adaptor
// trainer returns as its dx) and accumulates into the trainable weights: every block tensor, the final
// norm, pos_embed (summed over images) and the patch-embedding conv, whose weight [W, 3, p, p] is a
// Linear over the VitIm2Patches rows. No gradient reaches the pixels. The attention-pool head is not
// in the forward (ignore_head), so it is neither read nor trained here.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "train/param_set.h"
#include "vision/vision_config.h"

namespace dsvl {

class WeightStore;

namespace train {

class VitTrainer {
 public:
  // Reads every weight through `params` (trainable ones) or the checkpoint (frozen ones): add all
  // trainable parameters to `params` before constructing. Throws dsvl::Error on a bad config or a
  // missing or mis-shaped tensor.
  VitTrainer(const VitConfig& config, const WeightStore& weights, ParamSet& params);

  int64_t tokens() const { return config_.num_patches(); }
  int64_t width() const { return config_.width; }

  // pixels: n images, each f32 [3, image_size, image_size] as VisionTransformer::Forward takes them;
  // out: [n, tokens(), width()]. Keeps the activations for Backward.
  void Forward(ThreadPool& pool, const float* pixels, int64_t n, float* out);
  // dout: the gradient of the last Forward's out. Accumulates into the trainable weights' gradients.
  void Backward(ThreadPool& pool, const float* dout);

 private:
  struct Block {
    WeightRef norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b;
    WeightRef norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  // One block's activations from the forward. q, k, v: [M, W] each (split from the fused qkv rows so
  // that heads are contiguous per token, as AttentionForward takes them); pre: fc1 output before GELU;
  // act: after it.
  struct Saved {
    std::vector<float> x, n1, mean1, rstd1, q, k, v, attn, lse, x_mid, n2, mean2, rstd2, pre, act;
  };

  VitConfig config_;
  WeightRef patch_w_, patch_b_, pos_embed_, norm_w_, norm_b_;
  std::vector<Block> blocks_;
  std::vector<Saved> saved_;
  int64_t n_ = 0;  // images in the last Forward
  std::vector<float> patches_, x_final_, mean_final_, rstd_final_;
};

}  // namespace train
}  // namespace dsvl
