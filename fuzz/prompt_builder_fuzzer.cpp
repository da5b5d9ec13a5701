// The chat/prompt builder (src/model/prompt_builder.*, chat_format.*): image tags, special tokens
// in user text, roles, image counts, image-token expansion, and the --prompt-ids list parser, with
// the fixture tokenizers of both families.
// Input: one flag byte (bit 0: VL1, bit 1: a system prompt from the first message), then messages
// separated by SEP, each "<header byte><text>": header bits 0-1 role (0 system, 1 user,
// 2 assistant, 3 user), bits 2-4 the number of images attached.
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "fixture_tokenizers.h"
#include "fuzz_util.h"
#include "model/chat_format.h"
#include "model/prompt_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool vl1 = (data[0] & 1) != 0, system_from_first = (data[0] & 2) != 0;
  const dsvl::Tokenizer& tok = vl1 ? dsvl::fuzz::Vl1Tokenizer() : dsvl::fuzz::Vl2Tokenizer();
  dsvl::ModelConfig config;
  config.family = vl1 ? dsvl::ModelFamily::kDeepSeekVL : dsvl::ModelFamily::kDeepSeekVL2;

  std::vector<dsvl::ChatMessage> messages;
  int64_t images = 0;
  for (std::string_view part : dsvl::fuzz::SplitParts(data + 1, size - 1, 64)) {
    dsvl::ChatMessage m;
    if (!part.empty()) {
      const uint8_t header = static_cast<uint8_t>(part[0]);
      part.remove_prefix(1);
      static constexpr dsvl::ChatRole kRoles[] = {dsvl::ChatRole::kSystem, dsvl::ChatRole::kUser,
                                                  dsvl::ChatRole::kAssistant, dsvl::ChatRole::kUser};
      m.role = kRoles[header & 3];
      m.num_images = (header >> 2) & 7;
    }
    m.text = std::string(part);
    images += m.num_images;
    // The string-level helpers on every piece.
    (void)dsvl::StripWhitespace(m.text);
    try {
      (void)dsvl::ParseChatRole(m.text);
    } catch (const dsvl::Error& e) {
      dsvl::fuzz::NoteRejection(e);
    }
    try {
      (void)dsvl::ParseIdList(m.text);
    } catch (const dsvl::Error& e) {
      dsvl::fuzz::NoteRejection(e);
    }
    try {
      (void)dsvl::TextWithImageTags(config.family, m);
      if (!vl1 && m.role == dsvl::ChatRole::kUser) (void)dsvl::FormatVl2UserTurn(m);
    } catch (const dsvl::Error& e) {
      dsvl::fuzz::NoteRejection(e);
    }
    messages.push_back(std::move(m));
  }
  std::string system = dsvl::DefaultSystemPrompt(config.family);
  if (system_from_first && !messages.empty()) system = messages.front().text;

  const int64_t image_id = tok.TokenToId(dsvl::ImageTag(config.family));
  try {
    if (vl1) (void)dsvl::FormatVl1Prompt(messages, system, "<｜end▁of▁sentence｜>");
    const std::vector<int64_t> ids = dsvl::TokenizeConversation(config, tok, messages, system, image_id);
    // 1..16 rows per image, varied so the spans differ.
    std::vector<int64_t> per_image;
    for (int64_t i = 0; i < images; ++i) per_image.push_back(1 + (i * 7) % 16);
    const dsvl::ExpandedPrompt p = dsvl::ExpandImageTokens(ids, image_id, per_image);
    if (p.ids.size() != p.image_mask.size() || p.spans.size() != per_image.size()) __builtin_trap();
    for (const dsvl::ImageSpan& s : p.spans) {
      if (s.start < 0 || s.start + s.length > static_cast<int64_t>(p.ids.size())) __builtin_trap();
      for (int64_t k = s.start; k < s.start + s.length; ++k)
        if (!p.image_mask[static_cast<size_t>(k)] || p.ids[static_cast<size_t>(k)] != image_id)
          __builtin_trap();
    }
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
  }
  return 0;
}
