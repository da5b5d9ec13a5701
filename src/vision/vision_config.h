// Vision-tower descriptions. The official DeepSeek-VL code keeps vision widths in tables keyed by
// model name; dsvl takes them from the weights' shapes and config (tiny_arch.json overrides the
// tables for the test checkpoints), so these structs are filled by model/model_config.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dsvl {

enum class GeluKind { kErf, kTanh };

// Pre-LN ViT without class token as used by both SigLIPs (timm VisionTransformer).
struct VitConfig {
  std::string prefix;           // e.g. "vision." or "vision_model.vision_tower_low.vision_tower."
  int64_t image_size = 384;
  int64_t patch_size = 16;
  int64_t width = 1024;
  int64_t layers = 24;          // blocks actually run (select_layer applied)
  int64_t heads = 16;
  int64_t mlp_hidden = 4096;
  float ln_eps = 1e-6f;
  GeluKind gelu = GeluKind::kErf;
  // Normalisation applied inside the tower (DeepSeek-VL CLIPVisionTower with pixel_mean); empty
  // when the processor already normalised.
  bool normalize = false;
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> std{0.5f, 0.5f, 0.5f};
  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
};

// SAM ViT-B "sam_b_downsample" (DeepSeek-VL 7B high-resolution branch).
struct SamConfig {
  std::string prefix;  // "vision_model.vision_tower_high.vision_tower."
  int64_t image_size = 1024;
  int64_t patch_size = 16;
  int64_t width = 768;
  int64_t depth = 12;
  int64_t heads = 12;
  int64_t mlp_hidden = 3072;
  int64_t window_size = 14;
  std::vector<int64_t> global_attn_indexes{2, 5, 8, 11};
  int64_t neck_channels = 256;
  std::array<int64_t, 2> downsample_channels{512, 1024};
  float ln_eps = 1e-6f;
  // CLIPVisionTower normalises only when high_res_cfg has pixel_mean (the released 7B has CLIP values).
  bool normalize = true;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

}  // namespace dsvl
