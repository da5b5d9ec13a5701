// Everything dsvl needs to know about a checkpoint directory, derived from its config.json,
// processor/preprocessor config, tokenizer_config.json and the weights' shapes. A new variant is a
// new config file, not new code: nothing below switches on a model name.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "adaptor/projector_config.h"
#include "llm/llm_config.h"
#include "vision/image_processor_config.h"
#include "vision/vision_config.h"

namespace dsvl {

class WeightStore;

enum class ModelFamily { kDeepSeekVL, kDeepSeekVL2 };  // model_type multi_modality / deepseek_vl_v2

struct Vl2Layout {
  bool tile_2d = true;              // tile_tag "2D" (the only layout the released models use)
  bool global_view_first = true;    // global_view_pos "head"
};

struct ModelConfig {
  std::string dir;
  ModelFamily family = ModelFamily::kDeepSeekVL2;
  LlmConfig llm;

  // Vision. VL1 1.3B: siglip only. VL1 7B: sam (high) + siglip (low). VL2: siglip (SO400M).
  std::optional<VitConfig> siglip;
  std::optional<SamConfig> sam;
  ProjectorConfig projector;

  Vl1ProcessorConfig vl1_processor;  // family == kDeepSeekVL
  Vl2ProcessorConfig vl2_processor;  // family == kDeepSeekVL2
  Vl2Layout vl2_layout;

  // Token ids resolved against the tokenizer (-1 if absent).
  int64_t image_token_id = -1;   // <image_placeholder> (VL1) / <image> (VL2)
  int64_t tokens_per_image_vl1 = 576;

  // torch_dtype of config.json ("bfloat16", "float32"): the precision the official code runs in.
  std::string torch_dtype = "bfloat16";
};

// Reads and parses one JSON file, throwing kNotFound / kCorruptData naming the file.
nlohmann::json ReadJsonFile(const std::string& path);

// The config built from already-parsed files (tests and make-model use this without a checkpoint).
// weights may be null: then vision widths come only from the config / tiny_arch tables.
ModelConfig ParseModelConfig(const std::string& where, const nlohmann::json& config,
                             const nlohmann::json* processor, const nlohmann::json* tiny_arch,
                             const WeightStore* weights);

// Reads dir/config.json (+ processor config, tiny_arch.json if present) and completes it from the
// weights' shapes. Throws dsvl::Error naming the file and field on anything missing or inconsistent.
ModelConfig LoadModelConfig(const std::string& dir, const WeightStore& weights);

}  // namespace dsvl
