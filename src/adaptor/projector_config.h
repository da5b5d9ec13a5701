// Projector (aligner) description, filled from aligner_config (VL1) or projector_config (VL2).
#pragma once

#include <cstdint>
#include <string>

namespace dsvl {

enum class ProjectorType {
  kMlpGelu,                    // DeepSeek-VL 1.3B: Linear -> GELU -> Linear (layers.0, layers.2)
  kLowHighHybridSplitMlpGelu,  // DeepSeek-VL 7B: high_up_proj | low_up_proj -> GELU -> Linear
  kDownsampleMlpGelu,          // DeepSeek-VL2: 2x2 channel-major merge -> Linear -> GELU -> Linear
};

struct ProjectorConfig {
  std::string prefix;  // "aligner." (VL1) or "projector." (VL2)
  ProjectorType type = ProjectorType::kMlpGelu;
  int64_t input_dim = 1024;
  int64_t n_embed = 2048;
  int64_t depth = 2;
  int64_t mlp_ratio = 1;         // downsample_mlp_gelu: hidden width n_embed * mlp_ratio
  int64_t downsample_ratio = 2;  // downsample_mlp_gelu: r x r token merge
};

}  // namespace dsvl
