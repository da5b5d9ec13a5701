// Conversation -> prompt text, exactly as the official processors lay it out.
//  VL1 (deepseek_vl/utils/conversation.py "deepseek" + VLChatProcessor): one SFT string
//    "{system}\n\nUser: {q1}\n\nAssistant: {a1}<｜end▁of▁sentence｜>User: {q2}\n\nAssistant:",
//    tokenised whole (BOS added by the tokenizer).
//  VL2 (format_messages_v2): per user turn "<|User|>: {q}\n\n<|Assistant|>:", per answer the stripped
//    text followed by an EOS id; pieces are tokenised separately (see prompt_builder.h).
// Images are referred to by tags in the text (<image_placeholder> / <image>); a message that has
// images but no tag gets the tags put in front of its text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_config.h"

namespace dsvl {

enum class ChatRole { kSystem, kUser, kAssistant };

struct ChatMessage {
  ChatRole role = ChatRole::kUser;
  std::string text;
  int64_t num_images = 0;  // images attached to this message, in order
};

// "system" / "user" / "assistant", also the template role names ("User", "<|User|>", ...).
// Throws kInvalidArgument on anything else.
ChatRole ParseChatRole(std::string_view role);

// "<image_placeholder>" (VL1) or "<image>" (VL2).
const char* ImageTag(ModelFamily family);
// The system prompt VLChatProcessor always uses (VL1); VL2's template has none.
const char* DefaultSystemPrompt(ModelFamily family);

// Python str.strip(): removes the characters str.isspace() accepts (ASCII and Unicode spaces, e.g.
// U+00A0 and the ideographic space U+3000) from both ends.
std::string_view StripWhitespace(std::string_view s);

// The message text with image tags: validated against num_images (a message must either tag every
// image or none), tags prepended when absent. Throws kInvalidArgument on a mismatch.
std::string TextWithImageTags(ModelFamily family, const ChatMessage& message);

// VL1: the whole SFT string. `system` is used as given (pass DefaultSystemPrompt for the official
// behaviour; a system message in `messages` replaces it). `eos_text` is sep2. Ends with
// "Assistant:" when the last message is a user turn.
std::string FormatVl1Prompt(const std::vector<ChatMessage>& messages, const std::string& system,
                            const std::string& eos_text);

// VL2: one user turn's text, "<|User|>: {stripped text with tags}\n\n<|Assistant|>:".
// An empty message gives "<|User|>:<|Assistant|>:" (conversation.py formats empty messages as "role:").
std::string FormatVl2UserTurn(const ChatMessage& message);

}  // namespace dsvl
