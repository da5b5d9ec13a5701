#include "model/prompt_builder.h"

#include <string>
#include <string_view>

#include "dsvl/error.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

void AppendEncoded(const Tokenizer& tok, std::string_view text, std::vector<int64_t>& ids) {
  if (text.empty()) return;
  std::vector<int64_t> piece = tok.Encode(text, /*add_special_tokens=*/false);
  ids.insert(ids.end(), piece.begin(), piece.end());
}

// tokenize_with_images: text split on the tag, each piece encoded on its own.
void AppendWithImages(const Tokenizer& tok, std::string_view text, std::string_view tag, int64_t image_id,
                      std::vector<int64_t>& ids) {
  size_t pos = 0;
  while (true) {
    const size_t next = text.find(tag, pos);
    if (next == std::string_view::npos) {
      AppendEncoded(tok, text.substr(pos), ids);
      return;
    }
    AppendEncoded(tok, text.substr(pos, next - pos), ids);
    ids.push_back(image_id);
    pos = next + tag.size();
  }
}

int64_t RequireId(const Tokenizer& tok, int64_t id, const char* what) {
  if (id < 0) {
    Throw(ErrorCode::kNotFound, ErrorContext{"tokenizer", what, "a token id", "none", ""});
  }
  return id;
}

}  // namespace

void RegisterVl2SpecialTokens(Tokenizer& tokenizer) {
  if (tokenizer.pad_id() < 0 && tokenizer.TokenToId("<｜▁pad▁｜>") < 0) tokenizer.AddSpecialToken("<｜▁pad▁｜>");
  for (const char* t : {"<image>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "<|grounding|>", "<|User|>",
                        "<|Assistant|>"}) {
    if (tokenizer.TokenToId(t) < 0) tokenizer.AddSpecialToken(t);
  }
}

std::vector<int64_t> TokenizeConversation(const ModelConfig& config, const Tokenizer& tokenizer,
                                          const std::vector<ChatMessage>& messages, const std::string& system,
                                          int64_t image_token_id) {
  std::vector<int64_t> ids;
  if (config.family == ModelFamily::kDeepSeekVL) {
    const int64_t eos = RequireId(tokenizer, tokenizer.eos_id(), "eos_token");
    const std::string sft = FormatVl1Prompt(messages, system, tokenizer.IdToToken(eos));
    // The tag is a special token of the tokenizer, so whole-string encoding already yields one id
    // per image; map it to the model's image id in case the two were configured differently.
    ids = tokenizer.Encode(sft, /*add_special_tokens=*/true);
    const int64_t tag_id = tokenizer.TokenToId(ImageTag(config.family));
    if (tag_id >= 0 && tag_id != image_token_id) {
      for (int64_t& id : ids) {
        if (id == tag_id) id = image_token_id;
      }
    }
    return ids;
  }

  // DeepSeek-VL2 format_messages_v2.
  ids.push_back(RequireId(tokenizer, tokenizer.bos_id(), "bos_token"));
  const std::string tag = ImageTag(config.family);
  if (!system.empty()) AppendEncoded(tokenizer, StripWhitespace(system), ids);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    switch (m.role) {
      case ChatRole::kSystem:
        if (i != 0 || !system.empty()) {
          Throw(ErrorCode::kInvalidArgument,
                ErrorContext{"message " + std::to_string(i), "role", "system only as the first message",
                             "system", ""});
        }
        AppendEncoded(tokenizer, StripWhitespace(m.text), ids);
        break;
      case ChatRole::kUser:
        AppendWithImages(tokenizer, FormatVl2UserTurn(m), tag, image_token_id, ids);
        break;
      case ChatRole::kAssistant: {
        if (m.num_images > 0) {
          Throw(ErrorCode::kInvalidArgument,
                ErrorContext{"message " + std::to_string(i), "images", "none on an assistant message",
                             std::to_string(m.num_images), ""});
        }
        const std::string_view answer = StripWhitespace(m.text);
        if (answer.empty() && i + 1 == messages.size()) break;  // the turn being generated
        AppendEncoded(tokenizer, answer, ids);
        ids.push_back(RequireId(tokenizer, tokenizer.eos_id(), "eos_token"));
        break;
      }
    }
  }
  return ids;
}

ExpandedPrompt ExpandImageTokens(const std::vector<int64_t>& ids, int64_t image_token_id,
                                 const std::vector<int64_t>& tokens_per_image) {
  int64_t occurrences = 0;
  for (int64_t id : ids) occurrences += id == image_token_id;
  if (occurrences != static_cast<int64_t>(tokens_per_image.size())) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"prompt", "image tokens (id " + std::to_string(image_token_id) + ")",
                       std::to_string(tokens_per_image.size()) + " (one per image)", std::to_string(occurrences),
                       ""});
  }
  ExpandedPrompt out;
  int64_t total = static_cast<int64_t>(ids.size()) - occurrences;
  for (int64_t n : tokens_per_image) total += n;
  out.ids.reserve(total);
  out.image_mask.reserve(total);
  size_t image = 0;
  for (int64_t id : ids) {
    if (id != image_token_id) {
      out.ids.push_back(id);
      out.image_mask.push_back(0);
      continue;
    }
    const int64_t n = tokens_per_image[image++];
    out.spans.push_back({static_cast<int64_t>(out.ids.size()), n});
    out.ids.insert(out.ids.end(), n, image_token_id);
    out.image_mask.insert(out.image_mask.end(), n, 1);
  }
  return out;
}

std::vector<int64_t> ParseIdList(const std::string& list) {
  std::vector<int64_t> ids;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    const std::string item(StripWhitespace(std::string_view(list).substr(pos, comma - pos)));
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < 0) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{"--prompt-ids", "item " + std::to_string(ids.size() + 1), "a non-negative integer",
                         "\"" + item + "\"", ""});
    }
    ids.push_back(v);
    pos = comma + 1;
  }
  return ids;
}

}  // namespace dsvl
