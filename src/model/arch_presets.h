// The five released DeepSeek-VL / DeepSeek-VL2 architectures as checkpoint files: config.json in
// the official key structure with the real numbers (docs/model-facts.md, 'Released models') or tiny
// ones (hidden 64, like the test fixtures), the processor configs, tokenizer_config.json and the
// special tokens with the ids the real tokenizer gives them. Used by `dsvl make-model`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/model_config.h"
#include "model/synthetic_tokenizer.h"

namespace dsvl {

struct ArchPreset {
  std::string arch;  // "deepseek-vl2-tiny", ...
  ModelFamily family = ModelFamily::kDeepSeekVL2;
  bool tiny = false;
  nlohmann::ordered_json config;     // config.json
  nlohmann::ordered_json tiny_arch;  // tiny_arch.json (tiny DeepSeek-VL only; null otherwise)
  nlohmann::ordered_json
      preprocessor;                  // preprocessor_config.json (DeepSeek-VL only; null otherwise)
  nlohmann::ordered_json processor;  // processor_config.json
  nlohmann::ordered_json tokenizer_config;  // tokenizer_config.json
  PreTokenizerStyle tokenizer_style = PreTokenizerStyle::kDeepSeekV3;
  std::vector<SpecialTokenSpec> specials;  // BOS, EOS, pad (VL2), family tokens, at their ids
  // Ids below this form the tokenizer's BPE vocabulary (real: 100000 DeepSeek-LLM, 128000
  // DeepSeek-V3; tiny: 500); added tokens follow it.
  int64_t tokenizer_vocab_end = 500;
  int64_t vocab_size = 0;  // language_config.vocab_size
};

// Every --arch value, in release order.
const std::vector<std::string>& ArchNames();

// tiny: hidden 64-sized stand-in with the same structure. real_token_ids: place the special tokens
// at the released model's ids (and use its vocab_size) even when tiny — needed when a real
// tokenizer.json is copied in; otherwise tiny models put them below 512 like the fixtures.
// Throws kInvalidArgument for an unknown arch, listing the known ones.
ArchPreset GetArchPreset(const std::string& arch, bool tiny, bool real_token_ids, DType dtype);

}  // namespace dsvl
