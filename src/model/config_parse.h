// Pieces of LoadModelConfig, one per config section (internal to src/model).
#pragma once

#include <optional>

#include "model/config_json.h"
#include "model/model_config.h"

namespace dsvl {

class WeightStore;

// language_config of a multi_modality (Llama, transformers LlamaConfig defaults) checkpoint.
LlmConfig ParseLlamaConfig(const ConfigReader& lc);
// language_config of a deepseek_vl_v2 checkpoint (DeepseekV2Config defaults: docs/model-facts.md,
// 'Config defaults').
LlmConfig ParseDeepseekV2Config(const ConfigReader& lc);

// VL1 vision_config (CLIPVisionTower or HybridVisionTower) -> siglip (and sam for the hybrid).
void ParseVl1Vision(const ConfigReader& vision, const nlohmann::json* tiny_arch, const WeightStore* weights,
                    ModelConfig& out);
// VL2 vision_config (SigLIP-SO400M style).
VitConfig ParseVl2Vision(const ConfigReader& vision, const WeightStore* weights);

}  // namespace dsvl
