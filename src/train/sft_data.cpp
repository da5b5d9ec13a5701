#include "train/sft_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "dsvl/error.h"
#include "text/tokenizer.h"

namespace dsvl::train {
namespace {

namespace fs = std::filesystem;

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

std::vector<TrainingConversation> ReadTrainingJsonl(const std::string& path, ModelFamily family,
                                                    const std::string& images_dir) {
  std::ifstream in(path);
  if (!in) Throw(ErrorCode::kNotFound, ErrorContext{path, "", "a readable JSONL file", "missing", ""});
  const fs::path base = images_dir.empty() ? fs::path(path).parent_path() : fs::path(images_dir);
  return ParseTrainingJsonl(in, path, family, base.string());
}

std::vector<TrainingConversation> ParseTrainingJsonl(std::istream& in, const std::string& path,
                                                     ModelFamily family, const std::string& base_dir) {
  const fs::path base(base_dir);
  const std::string tag = ImageTag(family);
  std::vector<TrainingConversation> out;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    if (line.size() > kMaxTrainingLineBytes)
      Throw(ErrorCode::kLimitExceeded, ErrorContext{where, "line", "at most " + std::to_string(kMaxTrainingLineBytes) + " bytes",
                                                    std::to_string(line.size()), ""});
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "", "one JSON object per line", e.what(), ""});
    }
    if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "messages", "a non-empty array", "missing", ""});
    if (j["messages"].size() > kMaxTrainingMessages)
      Throw(ErrorCode::kLimitExceeded, ErrorContext{where, "messages", "at most " + std::to_string(kMaxTrainingMessages),
                                                    std::to_string(j["messages"].size()), ""});
    TrainingConversation c;
    c.id = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : std::to_string(line_no);
    for (const auto& m : j["messages"]) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
          !m["content"].is_string())
        Throw(ErrorCode::kCorruptData,
              ErrorContext{where, "messages[]", "objects with string role and content", "other", ""});
      ChatMessage msg;
      msg.role = ParseChatRole(m["role"].get<std::string>());
      // Both spellings of the tag are accepted; the family's own is what the formatter sees.
      std::string text = ReplaceAll(m["content"].get<std::string>(), "<image_placeholder>", "<image>");
      msg.text = ReplaceAll(text, "<image>", tag);
      if (m.contains("images")) {
        if (!m["images"].is_array())
          Throw(ErrorCode::kCorruptData, ErrorContext{where, "images", "an array of paths", "other", ""});
        for (const auto& p : m["images"]) {
          if (!p.is_string()) Throw(ErrorCode::kCorruptData, ErrorContext{where, "images[]", "a path", "other", ""});
          const fs::path ip(p.get<std::string>());
          c.image_paths.push_back((ip.is_absolute() ? ip : base / ip).string());
          ++msg.num_images;
        }
      }
      c.messages.push_back(std::move(msg));
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) Throw(ErrorCode::kCorruptData, ErrorContext{path, "", "at least one conversation", "none", ""});
  return out;
}

TrainingSequence FormatTrainingSequence(const ModelConfig& config, const Tokenizer& tokenizer,
                                        const std::vector<ChatMessage>& messages,
                                        const std::vector<int64_t>& tokens_per_image) {
  const std::string system = DefaultSystemPrompt(config.family);
  // As the engine resolves it: the config's id, else the tokenizer's id of the family's tag.
  const int64_t image_id =
      config.image_token_id >= 0 ? config.image_token_id : tokenizer.TokenToId(ImageTag(config.family));
  if (image_id < 0 && !tokens_per_image.empty())
    Throw(ErrorCode::kCorruptData, ErrorContext{"tokenizer", ImageTag(config.family), "an image token", "absent", ""});
  const std::vector<int64_t> ids =
      TokenizeConversation(config, tokenizer, messages, system, image_id);
  std::vector<int64_t> labels(ids.size(), kIgnoreLabel);
  int64_t supervised = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role != ChatRole::kAssistant) continue;
    const std::vector<ChatMessage> before(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i));
    const std::vector<ChatMessage> upto(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    const std::vector<int64_t> a = TokenizeConversation(config, tokenizer, before, system, image_id);
    const std::vector<int64_t> b = TokenizeConversation(config, tokenizer, upto, system, image_id);
    const bool prefix = a.size() <= b.size() && b.size() <= ids.size() &&
                        std::equal(a.begin(), a.end(), b.begin()) && std::equal(b.begin(), b.end(), ids.begin());
    if (!prefix)
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{"message " + std::to_string(i), "content",
                         "an answer whose tokens extend the prompt's (the text before it tokenises the same alone)",
                         "merges with the prompt", ""});
    for (size_t t = a.size(); t < b.size(); ++t) labels[t] = ids[t];
    supervised += static_cast<int64_t>(b.size() - a.size());
  }
  TrainingSequence s;
  s.prompt = ExpandImageTokens(ids, image_id, tokens_per_image);
  // Image runs carry the image token id, as the official input_ids do (their embeddings are replaced).
  for (size_t t = 0; t < s.prompt.ids.size(); ++t)
    if (s.prompt.image_mask[t]) s.prompt.ids[t] = image_id;
  // Labels follow the expansion: image runs are never supervised.
  s.labels.reserve(s.prompt.ids.size());
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] == image_id) {
      // This occurrence became its image's run; find its length from the expanded spans.
      const size_t image = static_cast<size_t>(std::count(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(t), image_id));
      s.labels.insert(s.labels.end(), static_cast<size_t>(s.prompt.spans[image].length), kIgnoreLabel);
    } else {
      s.labels.push_back(labels[t]);
    }
  }
  s.supervised = supervised;
  return s;
}

}  // namespace dsvl::train
