#include "llm/language_model.h"

#include "llm/decoder.h"

namespace dsvl {

std::unique_ptr<LanguageModel> CreateLanguageModel(const LlmConfig& config, const WeightStore& weights) {
  return std::make_unique<Decoder>(config, weights);
}

}  // namespace dsvl
