// Prompt ids (docs/model-facts.md: 'VL1 prompt expansion', whole-string encode with BOS;
// 'VL2 prompt and special tokens', format_messages_v2: BOS + pieces encoded separately around image
// ids, stripped answers + EOS, system text without a separator) and the special-token registration,
// image-token expansion and --prompt-ids parsing.
#include "model/prompt_builder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "error_code.h"
#include "npy.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;

const std::string kEosText = "<｜end▁of▁sentence｜>";
const std::string kBosText = "<｜begin▁of▁sentence｜>";

std::string TokenizerPath(const std::string& rel) { return test::DataDir() + "/" + rel; }

// Loaded once per path (the real V3 tokenizer takes a moment); each test that registers tokens
// loads its own copy instead.
const Tokenizer& Shared(const std::string& rel) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[rel];
  if (!t) t = Tokenizer::Load(TokenizerPath(rel));
  return *t;
}
const Tokenizer& Vl2Tiny() { return Shared("fixtures/vl2_tiny/ckpt"); }
const Tokenizer& V1Tiny() { return Shared("fixtures/v1_hybrid/ckpt"); }
const Tokenizer& DeepSeekLlm() { return Shared("tokenizers/deepseek-llm"); }

const Tokenizer& V3WithVl2Tokens() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto tok = Tokenizer::Load(TokenizerPath("tokenizers/deepseek-v3"));
    RegisterVl2SpecialTokens(*tok);
    return tok;
  }();
  return *t;
}

ModelConfig Config(ModelFamily family) {
  ModelConfig c;
  c.family = family;
  return c;
}

ChatMessage User(std::string text, int64_t images = 0) { return {ChatRole::kUser, std::move(text), images}; }
ChatMessage Assistant(std::string text) { return {ChatRole::kAssistant, std::move(text), 0}; }
ChatMessage System(std::string text) { return {ChatRole::kSystem, std::move(text), 0}; }

Ids Cat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Ids Enc(const Tokenizer& tok, const std::string& s) { return tok.Encode(s, /*add_special_tokens=*/false); }

using test::CodeOf;

// ---- VL2 ------------------------------------------------------------------------------------

TEST(PromptBuilderVl2, SingleTurnIsBosThenPiecesAroundTheImageId) {
  const Tokenizer& tok = Vl2Tiny();
  ASSERT_EQ(tok.bos_id(), 0);
  const Ids ids = TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok,
                                       {User(" <image>\n Describe the image. ", 1)}, "", 500);
  // Only the ends of the message are stripped (str.strip()), the space after "\n" stays.
  const Ids expected =
      Cat({{0}, Enc(tok, "<|User|>: "), {500}, Enc(tok, "\n Describe the image.\n\n<|Assistant|>:")});
  EXPECT_EQ(ids, expected);
  // The role tags are the registered special ids, not byte pieces.
  EXPECT_EQ(ids[1], 506);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 507), 1);
}

TEST(PromptBuilderVl2, RealV3TokenizerRoundTripsTheTemplate) {
  const Tokenizer& tok = V3WithVl2Tokens();
  const Ids ids = TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok,
                                       {User("<image>\n<|ref|>The giraffe at the back.<|/ref|>.", 1)}, "", 128815);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 0);       // BOS
  EXPECT_EQ(ids[1], 128821);  // <|User|>
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128815), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128816), 1);  // <|ref|>
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128817), 1);  // <|/ref|>
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128822), 1);  // <|Assistant|>
  EXPECT_EQ(tok.Decode(ids),
            kBosText + "<|User|>: <image>\n<|ref|>The giraffe at the back.<|/ref|>.\n\n<|Assistant|>:");
  const Ids expected = Cat({{0},
                            Enc(tok, "<|User|>: "),
                            {128815},
                            Enc(tok, "\n<|ref|>The giraffe at the back.<|/ref|>.\n\n<|Assistant|>:")});
  EXPECT_EQ(ids, expected);
}

TEST(PromptBuilderVl2, HistoryAnswersAreStrippedAndEndWithEos) {
  const Tokenizer& tok = Vl2Tiny();
  const std::vector<ChatMessage> msgs = {User("What is it?", 1), Assistant("  A cat. \n"), User(" And now? "),
                                         Assistant("")};
  const Ids ids = TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok, msgs, "", 500);
  const Ids expected = Cat({{0},
                            Enc(tok, "<|User|>: "),
                            {500},
                            Enc(tok, "\nWhat is it?\n\n<|Assistant|>:"),
                            Enc(tok, "A cat."),
                            {1},
                            Enc(tok, "<|User|>: And now?\n\n<|Assistant|>:")});
  EXPECT_EQ(ids, expected);
  // The trailing empty assistant turn (inference_mode) adds nothing; a conversation ending with a
  // user turn gives the same ids.
  EXPECT_EQ(TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok,
                                 {msgs[0], msgs[1], msgs[2]}, "", 500),
            expected);
}

TEST(PromptBuilderVl2, SeveralImagesInOneTurn) {
  const Tokenizer& tok = Vl2Tiny();
  const Ids ids = TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok,
                                       {User("A <image> B <image>", 2)}, "", 500);
  EXPECT_EQ(ids, Cat({{0}, Enc(tok, "<|User|>: A "), {500}, Enc(tok, " B "), {500},
                      Enc(tok, "\n\n<|Assistant|>:")}));
  // Untagged images: one "<image>\n" per image in front of the text.
  const Ids untagged = TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok, {User("Compare.", 2)}, "", 500);
  EXPECT_EQ(untagged, Cat({{0}, Enc(tok, "<|User|>: "), {500}, Enc(tok, "\n"), {500},
                           Enc(tok, "\nCompare.\n\n<|Assistant|>:")}));
}

TEST(PromptBuilderVl2, SystemMessageIsEncodedRawBeforeTheFirstTurn) {
  const Tokenizer& tok = Vl2Tiny();
  const Ids expected = Cat({{0}, Enc(tok, "Be brief."), Enc(tok, "<|User|>: hi\n\n<|Assistant|>:")});
  EXPECT_EQ(TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok, {System(" Be brief.\n"), User("hi")}, "", 500),
            expected);
  // The same text given as the system argument.
  EXPECT_EQ(TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok, {User("hi")}, "Be brief.", 500), expected);
  // No system: nothing between BOS and <|User|>.
  const Ids plain = TokenizeConversation(Config(ModelFamily::kDeepSeekVL2), tok, {User("hi")}, "", 500);
  EXPECT_EQ(plain[1], 506);
}

TEST(PromptBuilderVl2, MisplacedRolesAndImagesThrow) {
  const Tokenizer& tok = Vl2Tiny();
  const ModelConfig c = Config(ModelFamily::kDeepSeekVL2);
  std::string what;
  EXPECT_EQ(CodeOf([&] { TokenizeConversation(c, tok, {User("hi"), System("late")}, "", 500); }, &what),
            ErrorCode::kInvalidArgument);
  EXPECT_NE(what.find("system"), std::string::npos) << what;
  EXPECT_EQ(CodeOf([&] { TokenizeConversation(c, tok, {System("a")}, "also a system", 500); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { TokenizeConversation(c, tok, {User("q"), {ChatRole::kAssistant, "a", 1}}, "", 500); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { TokenizeConversation(c, tok, {User("<image><image>", 1)}, "", 500); }),
            ErrorCode::kInvalidArgument);
}

// ---- VL1 ------------------------------------------------------------------------------------

TEST(PromptBuilderVl1, WholeStringEncodedWithBos) {
  const Tokenizer& tok = DeepSeekLlm();
  const std::string system = DefaultSystemPrompt(ModelFamily::kDeepSeekVL);
  const Ids ids = TokenizeConversation(Config(ModelFamily::kDeepSeekVL), tok,
                                       {User("Describe each stage of this image.", 1)}, system, 100015);
  const std::string sft =
      system + "\n\nUser: <image_placeholder>Describe each stage of this image.\n\nAssistant:";
  EXPECT_EQ(ids, tok.Encode(sft, /*add_special_tokens=*/true));
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 100000);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 100000), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 100015), 1);
  EXPECT_EQ(tok.Decode(ids), kBosText + sft);
}

TEST(PromptBuilderVl1, MultiTurnEosStringBecomesTheEosId) {
  const Tokenizer& tok = DeepSeekLlm();
  const Ids ids = TokenizeConversation(Config(ModelFamily::kDeepSeekVL), tok,
                                       {User("q1", 1), Assistant(" a1 "), User("q2")}, "", 100015);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 100001), 1);
  EXPECT_EQ(tok.Decode(ids), kBosText + "User: <image_placeholder>q1\n\nAssistant: a1" + kEosText +
                                 "User: q2\n\nAssistant:");
}

TEST(PromptBuilderVl1, TinyTokenizerAndImageIdRemap) {
  const Tokenizer& tok = V1Tiny();
  const Ids ids = TokenizeConversation(Config(ModelFamily::kDeepSeekVL), tok, {User("hi", 1)}, "", 502);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 500);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 502), 1);
  // A model whose configured image id differs from the tokenizer's tag id gets its own id.
  const Ids remapped = TokenizeConversation(Config(ModelFamily::kDeepSeekVL), tok, {User("hi", 1)}, "", 77);
  ASSERT_EQ(remapped.size(), ids.size());
  EXPECT_EQ(std::count(remapped.begin(), remapped.end(), 502), 0);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(remapped[i], ids[i] == 502 ? 77 : ids[i]) << i;
}

// ---- special tokens -----------------------------------------------------------------------------

const char* const kVl2Specials[] = {"<image>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "<|grounding|>",
                                    "<|User|>", "<|Assistant|>"};

TEST(RegisterVl2SpecialTokens, RealV3TokenizerGetsTheOfficialIds) {
  const Tokenizer& tok = V3WithVl2Tokens();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(tok.TokenToId(kVl2Specials[i]), 128815 + i) << kVl2Specials[i];
    EXPECT_TRUE(tok.IsSpecial(128815 + i)) << kVl2Specials[i];
  }
  // Encoding matches the added tokens before BPE.
  EXPECT_EQ(tok.Encode("<|User|>", false), Ids{128821});
}

TEST(RegisterVl2SpecialTokens, TokenizerWithPadGetsConsecutiveIdsAndIsIdempotent) {
  // The v1 tiny tokenizer: 500 BPE ids, added tokens up to 502, pad token configured (= EOS).
  auto tok = Tokenizer::Load(TokenizerPath("fixtures/v1_hybrid/ckpt"));
  ASSERT_GE(tok->pad_id(), 0);
  RegisterVl2SpecialTokens(*tok);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(tok->TokenToId(kVl2Specials[i]), 503 + i) << kVl2Specials[i];
  RegisterVl2SpecialTokens(*tok);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(tok->TokenToId(kVl2Specials[i]), 503 + i) << kVl2Specials[i];
  // The VL2 tiny tokenizer already has them: ids are kept.
  auto vl2 = Tokenizer::Load(TokenizerPath("fixtures/vl2_tiny/ckpt"));
  RegisterVl2SpecialTokens(*vl2);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(vl2->TokenToId(kVl2Specials[i]), 500 + i) << kVl2Specials[i];
}

TEST(RegisterVl2SpecialTokens, TokenizerWithoutPadGetsThePadFirst) {
  // Like VL2-small's tokenizer (issue #64): no pad token, so the pad is added before <image>.
  const fs::path dir = fs::temp_directory_path() / ("dsvl_nopad_tok_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "tokenizer.json");
    f << R"({"version":"1.0","added_tokens":[],"normalizer":null,
             "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false},
             "post_processor":null,"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
             "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
                      "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,
                      "vocab":{"a":0,"b":1,"c":2},"merges":[]}})";
  }
  auto tok = Tokenizer::Load((dir / "tokenizer.json").string());
  fs::remove_all(dir);
  ASSERT_LT(tok->pad_id(), 0);
  RegisterVl2SpecialTokens(*tok);
  EXPECT_EQ(tok->TokenToId("<｜▁pad▁｜>"), 3);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(tok->TokenToId(kVl2Specials[i]), 4 + i) << kVl2Specials[i];
}

// ---- image-token expansion ------------------------------------------------------------------------

TEST(ExpandImageTokens, RunsMaskAndSpans) {
  const ExpandedPrompt p = ExpandImageTokens({1, 9, 2, 9, 3}, 9, {3, 2});
  EXPECT_EQ(p.ids, (Ids{1, 9, 9, 9, 2, 9, 9, 3}));
  EXPECT_EQ(p.image_mask, (std::vector<uint8_t>{0, 1, 1, 1, 0, 1, 1, 0}));
  ASSERT_EQ(p.spans.size(), 2u);
  EXPECT_EQ(p.spans[0].start, 1);
  EXPECT_EQ(p.spans[0].length, 3);
  EXPECT_EQ(p.spans[1].start, 5);
  EXPECT_EQ(p.spans[1].length, 2);
}

TEST(ExpandImageTokens, NoImages) {
  const ExpandedPrompt p = ExpandImageTokens({4, 5, 6}, 9, {});
  EXPECT_EQ(p.ids, (Ids{4, 5, 6}));
  EXPECT_EQ(p.image_mask, (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_TRUE(p.spans.empty());
}

TEST(ExpandImageTokens, ReproducesTheVl2ProcessorIds) {
  // vl2_tiny case A: BOS + prompt_spec with one <image>, expanded to 1023 rows (640x480 -> 2x2 tiles).
  const std::string dir = test::FixtureDir() + "/vl2_tiny/fp32/A";
  const Ids expected = test::LoadNpy(dir + "/input_ids.npy").i64();
  const Ids mask = test::LoadNpy(dir + "/images_seq_mask.npy").i64();
  const Ids spec = {0, 120, 5, 66, 500, 310, 91, 4, 250, 19};
  const ExpandedPrompt p = ExpandImageTokens(spec, 500, {1023});
  EXPECT_EQ(p.ids, expected);
  ASSERT_EQ(p.image_mask.size(), mask.size());
  for (size_t i = 0; i < mask.size(); ++i) ASSERT_EQ(p.image_mask[i], mask[i]) << i;
}

TEST(ExpandImageTokens, CountMismatchThrows) {
  std::string what;
  EXPECT_EQ(CodeOf([] { ExpandImageTokens({1, 9, 2}, 9, {3, 3}); }, &what), ErrorCode::kInvalidArgument);
  EXPECT_NE(what.find("id 9"), std::string::npos) << what;
  EXPECT_NE(what.find("got 1"), std::string::npos) << what;
  EXPECT_EQ(CodeOf([] { ExpandImageTokens({1, 9, 9}, 9, {3}); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { ExpandImageTokens({1, 2}, 9, {3}); }), ErrorCode::kInvalidArgument);
}

// ---- --prompt-ids ---------------------------------------------------------------------------------

TEST(ParseIdList, AcceptsCommasAndSpaces) {
  EXPECT_EQ(ParseIdList("1,2, 3"), (Ids{1, 2, 3}));
  EXPECT_EQ(ParseIdList(" 7 "), (Ids{7}));
  EXPECT_EQ(ParseIdList("0,\t128815 ,9"), (Ids{0, 128815, 9}));
}

TEST(ParseIdList, RejectsBadItemsNamingThem) {
  struct Bad {
    const char* list;
    const char* item;  // what the message must quote
  };
  for (const Bad& b : {Bad{"1,x,3", "\"x\""}, Bad{"1,,2", "item 2"}, Bad{"-1", "\"-1\""}, Bad{"", "item 1"},
                       Bad{"1,2,", "item 3"}, Bad{"1.5", "\"1.5\""}, Bad{"3 4", "\"3 4\""},
                       Bad{"99999999999999999999999", "item 1"}, Bad{"0x10", "\"0x10\""}}) {
    std::string what;
    EXPECT_EQ(CodeOf([&] { ParseIdList(b.list); }, &what), ErrorCode::kInvalidArgument) << b.list;
    EXPECT_NE(what.find("--prompt-ids"), std::string::npos) << what;
    EXPECT_NE(what.find(b.item), std::string::npos) << b.list << " -> " << what;
  }
}

}  // namespace
}  // namespace dsvl
