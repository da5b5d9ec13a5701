// Model configuration: config.json with its processor config (processor_config.json for VL2,
// preprocessor_config.json for VL1) and tiny_arch.json, through ParseModelConfig (the in-memory
// half of LoadModelConfig; without weights, widths come from the files alone).
// Input: "config.json[SEP processor config[SEP tiny_arch.json]]". Parsed as ReadJsonFile does
// (no exceptions; invalid JSON is what ReadJsonFile refuses with kCorruptData).
#include <nlohmann/json.hpp>

#include "dsvl/error.h"
#include "fuzz_util.h"
#include "model/model_config.h"

namespace {

bool Parse(std::string_view text, nlohmann::json& out) {
  out = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return !out.is_discarded();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = dsvl::fuzz::SplitParts(data, size, 3);
  nlohmann::json config, processor, tiny_arch;
  if (!Parse(parts[0], config)) return 0;
  const bool has_processor = parts.size() > 1 && Parse(parts[1], processor);
  const bool has_tiny = parts.size() > 2 && Parse(parts[2], tiny_arch);
  try {
    const dsvl::ModelConfig c =
        dsvl::ParseModelConfig("config.json", config, has_processor ? &processor : nullptr,
                               has_tiny ? &tiny_arch : nullptr, nullptr);
    if (c.siglip) (void)c.siglip->num_patches();
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
  }
  return 0;
}
