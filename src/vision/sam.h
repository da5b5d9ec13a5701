// SAM ViT-B image encoder as DeepSeek-VL 7B's high-resolution branch uses it ("sam_b_downsample",
// official sam.py): patch-16 conv, absolute pos_embed, ViTDet blocks (14x14 windowed attention
// except at global_attn_indexes, decomposed relative positions), the conv/LayerNorm2d neck, a fp32
// bilinear 64 -> 96 upsample and two stride-2 convs, plus the "hd" path: a second neck applied to the
// output of the first global block, scaled by hd_alpha_downsamples and added.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "core/yield_fn.h"
#include "vision/vision_config.h"

namespace dsvl {

class WeightStore;

class SamEncoder {
 public:
  SamEncoder(const SamConfig& config, const WeightStore& weights);

  const SamConfig& config() const { return config_; }
  int64_t grid() const { return config_.image_size / config_.patch_size; }  // 64
  int64_t out_side() const;                                                  // 24
  int64_t out_tokens() const { return out_side() * out_side(); }            // 576
  int64_t out_channels() const { return config_.downsample_channels[1]; }    // 1024

  // pixels: f32 [3, image_size, image_size] in [0, 1] (the tower normalises with config mean/std).
  // out: [out_tokens(), out_channels()], tokens row-major over the output grid (rearrange
  // "c h w -> (h w) c"). Scratch is allocated once per call. yield runs between units (the patch
  // embedding, each half block, each neck, the upsample, each downsample conv; core/yield_fn.h).
  void Forward(ThreadPool& pool, const float* pixels, float* out, YieldFn yield = {}) const;

 private:
  struct Block {
    TensorView norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b, rel_h, rel_w;
    TensorView norm2_w, norm2_b, lin1_w, lin1_b, lin2_w, lin2_b;
    int64_t window = 0;  // 0 = global attention
  };
  struct Neck {
    TensorView conv1_w, ln1_w, ln1_b, conv2_w, ln2_w, ln2_b;
  };
  struct Buffers;

  void Attend(ThreadPool& pool, const Block& blk, Buffers& buf) const;
  // neck(x) for NHWC tokens x [G*G, width] into CHW out [neck_channels, G, G].
  void RunNeck(ThreadPool& pool, const Neck& neck, const float* x, Buffers& buf, float* out) const;

  SamConfig config_;
  TensorView patch_w_, patch_b_, pos_embed_, hd_alpha_;
  TensorView down1_w_, down2_w_;
  Neck neck_, neck_hd_;
  std::vector<Block> blocks_;
};

}  // namespace dsvl
