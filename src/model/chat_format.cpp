#include "model/chat_format.h"

#include "dsvl/error.h"

namespace dsvl {
namespace {

int64_t CountOccurrences(std::string_view s, std::string_view needle) {
  int64_t n = 0;
  for (size_t pos = s.find(needle); pos != std::string_view::npos; pos = s.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace

ChatRole ParseChatRole(std::string_view role) {
  if (role == "user" || role == "User" || role == "<|User|>") return ChatRole::kUser;
  if (role == "assistant" || role == "Assistant" || role == "<|Assistant|>") return ChatRole::kAssistant;
  if (role == "system" || role == "deepseekapi-sys") return ChatRole::kSystem;  // VL2 accepts both
  Throw(ErrorCode::kInvalidArgument,
        ErrorContext{"message", "role", "\"system\", \"user\" or \"assistant\"", std::string(role), ""});
}

const char* ImageTag(ModelFamily family) {
  return family == ModelFamily::kDeepSeekVL ? "<image_placeholder>" : "<image>";
}

const char* DefaultSystemPrompt(ModelFamily family) {
  if (family == ModelFamily::kDeepSeekVL2) return "";
  return "You are a helpful language and vision assistant. You are able to understand the visual content "
         "that the user provides, and assist the user with a variety of tasks using natural language.";
}

namespace {

// Python's str.isspace() set: ASCII \t\n\v\f\r, \x1c-\x1f and space, plus U+0085, U+00A0,
// U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000 (the ideographic space CJK input
// methods type). Returns the byte length of the whitespace character at s[i], 0 if there is none.
size_t WhitespaceAt(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
  if (c == 0xC2 && i + 1 < s.size() && (b(1) == 0x85 || b(1) == 0xA0)) return 2;
  if (i + 2 >= s.size()) return 0;
  if (c == 0xE1 && b(1) == 0x9A && b(2) == 0x80) return 3;  // U+1680
  if (c == 0xE2 && b(1) == 0x80 && (b(2) <= 0x8A || b(2) == 0xA8 || b(2) == 0xA9 || b(2) == 0xAF)) return 3;
  if (c == 0xE2 && b(1) == 0x81 && b(2) == 0x9F) return 3;  // U+205F
  if (c == 0xE3 && b(1) == 0x80 && b(2) == 0x80) return 3;  // U+3000
  return 0;
}

// Start of the UTF-8 character that ends at s[end - 1].
size_t CharStart(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80 && end - i < 4) --i;
  return i;
}

}  // namespace

std::string_view StripWhitespace(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    const size_t n = WhitespaceAt(s, b);
    if (n == 0) break;
    b += n;
  }
  size_t e = s.size();
  while (e > b) {
    const size_t start = CharStart(s, e);
    if (start < b || WhitespaceAt(s, start) != e - start) break;
    e = start;
  }
  return s.substr(b, e - b);
}

std::string TextWithImageTags(ModelFamily family, const ChatMessage& message) {
  const std::string tag = ImageTag(family);
  const int64_t tags = CountOccurrences(message.text, tag);
  if (tags == message.num_images) return message.text;
  if (tags == 0) {
    // The official examples put VL1 tags right before the text and VL2 tags on their own line.
    const std::string sep = family == ModelFamily::kDeepSeekVL2 ? "\n" : "";
    std::string out;
    for (int64_t i = 0; i < message.num_images; ++i) out += tag + sep;
    return out + message.text;
  }
  Throw(ErrorCode::kInvalidArgument,
        ErrorContext{"message", tag + " tags", std::to_string(message.num_images) + " (one per image) or none",
                     std::to_string(tags), ""});
}

std::string FormatVl1Prompt(const std::vector<ChatMessage>& messages, const std::string& system,
                            const std::string& eos_text) {
  std::string sys = system;
  std::vector<const ChatMessage*> turns;
  for (const ChatMessage& m : messages) {
    if (m.role == ChatRole::kSystem) {
      sys = m.text;
    } else {
      turns.push_back(&m);
    }
  }
  // conversation.py SeparatorStyle.DeepSeek: seps alternate by message index ("\n\n" after user
  // turns, EOS after assistant turns); an empty message is just "Role:".
  std::string out = sys.empty() ? std::string() : sys + "\n\n";
  auto append = [&](size_t i, const char* role, std::string_view text) {
    if (text.empty()) {
      out += std::string(role) + ":";
    } else {
      out += std::string(role) + ": ";
      out += text;
      out += i % 2 == 0 ? std::string("\n\n") : eos_text;
    }
  };
  for (size_t i = 0; i < turns.size(); ++i) {
    const ChatMessage& m = *turns[i];
    const std::string text = TextWithImageTags(ModelFamily::kDeepSeekVL, m);
    append(i, m.role == ChatRole::kUser ? "User" : "Assistant", StripWhitespace(text));
  }
  if (turns.empty() || turns.back()->role == ChatRole::kUser) append(turns.size(), "Assistant", "");
  return std::string(StripWhitespace(out));
}

std::string FormatVl2UserTurn(const ChatMessage& message) {
  const std::string text = TextWithImageTags(ModelFamily::kDeepSeekVL2, message);
  const std::string_view content = StripWhitespace(text);
  // conversation.py get_prompt: an empty message is just "role:", without the separator.
  if (content.empty()) return "<|User|>:<|Assistant|>:";
  std::string out = "<|User|>: ";
  out += content;
  out += "\n\n<|Assistant|>:";
  return out;
}

}  // namespace dsvl
