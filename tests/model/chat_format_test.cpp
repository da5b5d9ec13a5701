// Chat templates (docs/model-facts.md: 'VL1 chat template', conversation.py "deepseek";
// 'VL2 prompt and special tokens', format_messages_v2): the exact strings the official processors build.
#include "model/chat_format.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "error_code.h"
#include "text/utf8.h"

namespace dsvl {
namespace {

const std::string kEos = "<｜end▁of▁sentence｜>";
const std::string kSystem =
    "You are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language.";

ChatMessage User(std::string text, int64_t images = 0) { return {ChatRole::kUser, std::move(text), images}; }
ChatMessage Assistant(std::string text) { return {ChatRole::kAssistant, std::move(text), 0}; }

using test::CodeOf;

TEST(ChatFormat, DefaultSystemPromptIsTheOfficialOne) {
  EXPECT_EQ(DefaultSystemPrompt(ModelFamily::kDeepSeekVL), kSystem);
  EXPECT_EQ(std::string(DefaultSystemPrompt(ModelFamily::kDeepSeekVL2)), "");
  EXPECT_EQ(std::string(ImageTag(ModelFamily::kDeepSeekVL)), "<image_placeholder>");
  EXPECT_EQ(std::string(ImageTag(ModelFamily::kDeepSeekVL2)), "<image>");
}

TEST(ChatFormat, Vl1SingleTurnMatchesTheSpecExample) {
  const std::string expected =
      kSystem + "\n\nUser: <image_placeholder>Describe each stage of this image.\n\nAssistant:";
  // The tag written by the user ...
  EXPECT_EQ(FormatVl1Prompt({User("<image_placeholder>Describe each stage of this image.", 1)}, kSystem, kEos),
            expected);
  // ... or put in front of the text for an untagged image.
  EXPECT_EQ(FormatVl1Prompt({User("Describe each stage of this image.", 1)}, kSystem, kEos), expected);
  // An explicit empty assistant turn (as the official examples end) gives the same string.
  EXPECT_EQ(FormatVl1Prompt({User("Describe each stage of this image.", 1), Assistant("")}, kSystem, kEos),
            expected);
}

TEST(ChatFormat, Vl1MultiTurnUsesEosAfterAnswers) {
  const std::vector<ChatMessage> msgs = {User("What is it?", 1), Assistant("  A cat.\n"), User("And the colour?"),
                                         Assistant("Black."), User("Thanks")};
  EXPECT_EQ(FormatVl1Prompt(msgs, kSystem, kEos),
            kSystem + "\n\nUser: <image_placeholder>What is it?\n\nAssistant: A cat." + kEos +
                "User: And the colour?\n\nAssistant: Black." + kEos + "User: Thanks\n\nAssistant:");
}

TEST(ChatFormat, Vl1StripsMessagesAndTheWholePrompt) {
  // Empty system: no separator in front; messages and the result are str.strip()ped.
  EXPECT_EQ(FormatVl1Prompt({User(" \n\thello there \r\n")}, "", kEos), "User: hello there\n\nAssistant:");
  // An empty (after strip) user message is just "User:" (conversation.py), then "Assistant:".
  EXPECT_EQ(FormatVl1Prompt({User("   ")}, "SYS", kEos), "SYS\n\nUser:Assistant:");
  // A conversation ending in an answer is not followed by a generation prompt; the final strip
  // does not remove the EOS text.
  EXPECT_EQ(FormatVl1Prompt({User("q"), Assistant("a")}, "", kEos), "User: q\n\nAssistant: a" + kEos);
}

TEST(ChatFormat, Vl1SystemMessageReplacesTheSystemArgument) {
  const std::vector<ChatMessage> msgs = {{ChatRole::kSystem, "Be brief.", 0}, User("hi")};
  EXPECT_EQ(FormatVl1Prompt(msgs, kSystem, kEos), "Be brief.\n\nUser: hi\n\nAssistant:");
}

TEST(ChatFormat, Vl1SeveralImagesOneTagEach) {
  EXPECT_EQ(FormatVl1Prompt({User("Compare.", 2)}, "", kEos),
            "User: <image_placeholder><image_placeholder>Compare.\n\nAssistant:");
  EXPECT_EQ(FormatVl1Prompt({User("First <image_placeholder> then <image_placeholder>.", 2)}, "", kEos),
            "User: First <image_placeholder> then <image_placeholder>.\n\nAssistant:");
}

TEST(ChatFormat, Vl2UserTurn) {
  EXPECT_EQ(FormatVl2UserTurn(User("  Describe.  ")), "<|User|>: Describe.\n\n<|Assistant|>:");
  // Untagged images go in front, each on its own line (the official VL2 examples' layout).
  EXPECT_EQ(FormatVl2UserTurn(User("Describe.", 2)), "<|User|>: <image>\n<image>\nDescribe.\n\n<|Assistant|>:");
  EXPECT_EQ(FormatVl2UserTurn(User("<image>\n<|ref|>The giraffe.<|/ref|>.", 1)),
            "<|User|>: <image>\n<|ref|>The giraffe.<|/ref|>.\n\n<|Assistant|>:");
  // conversation.py: an empty message is "role:" with no separator.
  EXPECT_EQ(FormatVl2UserTurn(User(" ")), "<|User|>:<|Assistant|>:");
}

TEST(ChatFormat, ImageTagsMustMatchTheImageCount) {
  std::string what;
  EXPECT_EQ(CodeOf([] { TextWithImageTags(ModelFamily::kDeepSeekVL2, User("<image> and <image>", 1)); }, &what),
            ErrorCode::kInvalidArgument);
  EXPECT_NE(what.find("<image>"), std::string::npos) << what;
  EXPECT_NE(what.find("2"), std::string::npos) << what;
  // A tag with no image attached is a mismatch too.
  EXPECT_EQ(CodeOf([] { TextWithImageTags(ModelFamily::kDeepSeekVL, User("<image_placeholder>x", 0)); }),
            ErrorCode::kInvalidArgument);
  // VL1's tag is not VL2's: "<image>" in a VL1 message is plain text.
  EXPECT_EQ(TextWithImageTags(ModelFamily::kDeepSeekVL, User("<image>x", 1)), "<image_placeholder><image>x");
  EXPECT_EQ(TextWithImageTags(ModelFamily::kDeepSeekVL2, User("no images")), "no images");
}

TEST(ChatFormat, ParseChatRole) {
  EXPECT_EQ(ParseChatRole("user"), ChatRole::kUser);
  EXPECT_EQ(ParseChatRole("User"), ChatRole::kUser);
  EXPECT_EQ(ParseChatRole("<|User|>"), ChatRole::kUser);
  EXPECT_EQ(ParseChatRole("assistant"), ChatRole::kAssistant);
  EXPECT_EQ(ParseChatRole("Assistant"), ChatRole::kAssistant);
  EXPECT_EQ(ParseChatRole("<|Assistant|>"), ChatRole::kAssistant);
  EXPECT_EQ(ParseChatRole("system"), ChatRole::kSystem);
  EXPECT_EQ(ParseChatRole("deepseekapi-sys"), ChatRole::kSystem);
  std::string what;
  EXPECT_EQ(CodeOf([] { ParseChatRole("bot"); }, &what), ErrorCode::kInvalidArgument);
  EXPECT_NE(what.find("bot"), std::string::npos) << what;
}

std::string Utf8(uint32_t cp) {
  std::string out;
  text::AppendCodePoint(cp, out);
  return out;
}

TEST(ChatFormat, StripWhitespaceMatchesPythonIsspaceOnEveryCodePoint) {
  // [c for c in range(0x110000) if chr(c).isspace()] in Python 3.
  const std::set<uint32_t> space = {0x9,    0xa,    0xb,    0xc,    0xd,    0x1c,   0x1d,   0x1e,
                                    0x1f,   0x20,   0x85,   0xa0,   0x1680, 0x2000, 0x2001, 0x2002,
                                    0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
                                    0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;  // surrogates are not UTF-8
    const std::string ch = Utf8(cp);
    const bool stripped_end = StripWhitespace("x" + ch) == "x";
    const bool stripped_start = StripWhitespace(ch + "x") == "x";
    ASSERT_EQ(stripped_end, space.count(cp) == 1) << std::hex << cp;
    ASSERT_EQ(stripped_start, space.count(cp) == 1) << std::hex << cp;
  }
}

TEST(ChatFormat, StripWhitespaceIsPythonStrip) {
  EXPECT_EQ(StripWhitespace(" \t\n\r\v\fa b\n "), "a b");
  EXPECT_EQ(StripWhitespace("   "), "");
  EXPECT_EQ(StripWhitespace(""), "");
  EXPECT_EQ(StripWhitespace("x"), "x");
  EXPECT_EQ(StripWhitespace("\x1c\x1f x \x1d"), "x");
  // Unicode spaces Python strips: NBSP, NEL, U+2003, U+2028, U+202F, U+205F, U+3000, U+1680.
  EXPECT_EQ(StripWhitespace("\u00a0\u0085\u2003 hi \u2028\u202f\u205f\u3000\u1680"), "hi");
  EXPECT_EQ(StripWhitespace("\u3000\u3000"), "");
  // Not whitespace for Python: zero-width space U+200B, BOM U+FEFF, and letters sharing lead bytes.
  EXPECT_EQ(StripWhitespace("\u200bx\ufeff"), "\u200bx\ufeff");
  EXPECT_EQ(StripWhitespace("\u3001\u00e9\u2010"), "\u3001\u00e9\u2010");
  EXPECT_EQ(StripWhitespace("\u4e2d\u6587\u3000"), "\u4e2d\u6587");
  // Truncated UTF-8 at either end is left alone (no read past the end).
  EXPECT_EQ(StripWhitespace("\xe3\x80"), "\xe3\x80");
  EXPECT_EQ(StripWhitespace("a\xc2"), "a\xc2");
}

}  // namespace
}  // namespace dsvl
