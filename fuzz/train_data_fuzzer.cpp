// Training data (src/train/sft_data.*): the JSONL conversation reader and the SFT formatting and
// labelling of what it accepts, with the fixture tokenizers of both families.
// Input: one flag byte (bit 0: VL1), then JSONL text. Image paths are only kept as strings.
#include <sstream>
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "fixture_tokenizers.h"
#include "fuzz_util.h"
#include "model/chat_format.h"
#include "train/sft_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool vl1 = (data[0] & 1) != 0;
  const dsvl::Tokenizer& tok = vl1 ? dsvl::fuzz::Vl1Tokenizer() : dsvl::fuzz::Vl2Tokenizer();
  dsvl::ModelConfig config;
  config.family = vl1 ? dsvl::ModelFamily::kDeepSeekVL : dsvl::ModelFamily::kDeepSeekVL2;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  std::vector<dsvl::train::TrainingConversation> conversations;
  try {
    conversations = dsvl::train::ParseTrainingJsonl(in, "fuzz.jsonl", config.family, "/nonexistent");
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
    return 0;
  }
  for (const auto& c : conversations) {
    // Small image runs keep each case cheap; the expansion logic is the same for 576 or 3.
    const std::vector<int64_t> tokens(c.image_paths.size(), 3);
    try {
      const dsvl::train::TrainingSequence s = dsvl::train::FormatTrainingSequence(config, tok, c.messages, tokens);
      if (s.labels.size() != s.prompt.ids.size() || s.prompt.image_mask.size() != s.prompt.ids.size()) __builtin_trap();
    } catch (const dsvl::Error& e) {
      dsvl::fuzz::NoteRejection(e);
    }
  }
  return 0;
}
