// Behaviour of the Tokenizer API beyond the reference cases: tiny checkpoint tokenizers, special
// tokens, BOS handling, token registration and streaming decode.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "npy.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

std::string V3Dir() { return test::DataDir() + "/tokenizers/deepseek-v3"; }
std::string LlmDir() { return test::DataDir() + "/tokenizers/deepseek-llm"; }

TEST(Tokenizer, TinyVl2CheckpointLoadsAndRoundTrips) {
  auto tok = Tokenizer::Load(test::FixtureDir() + "/vl2_tiny/ckpt");
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->pad_id(), 2);
  EXPECT_EQ(tok->vocab_size(), 508);
  EXPECT_EQ(tok->TokenToId("<image>"), 500);
  EXPECT_EQ(tok->TokenToId("<|Assistant|>"), 507);
  EXPECT_TRUE(tok->IsSpecial(500));
  EXPECT_FALSE(tok->IsSpecial(270));
  // Merge 11 of the real vocabulary builds "Ġthe" (id 270) from "Ġt" + "he".
  EXPECT_EQ(tok->Encode(" the"), (std::vector<int64_t>{270}));
  const std::string text = "<|User|>: Describe <image> the giraffe, 你好 😀 123456!\n\n<|Assistant|>:";
  auto ids = tok->Encode(text);
  EXPECT_EQ(ids.front(), 506);
  // Ids 3.. are the single bytes in byte-level order starting at '!' (0x21), so ':' (0x3A) is 28.
  EXPECT_EQ(ids.back(), 28);
  EXPECT_EQ(tok->IdToToken(28), ":");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 500), 1);
  for (int64_t id : ids) EXPECT_LT(id, tok->vocab_size());
  EXPECT_EQ(tok->Decode(ids), text);
  auto with_bos = tok->Encode(text, /*add_special_tokens=*/true);
  ASSERT_EQ(with_bos.size(), ids.size() + 1);
  EXPECT_EQ(with_bos[0], 0);
  EXPECT_EQ(std::vector<int64_t>(with_bos.begin() + 1, with_bos.end()), ids);
}

TEST(Tokenizer, TinyV1CheckpointLoadsAndRoundTrips) {
  auto tok = Tokenizer::Load(test::FixtureDir() + "/v1_hybrid/ckpt/tokenizer.json");
  EXPECT_EQ(tok->bos_id(), 500);
  EXPECT_EQ(tok->eos_id(), 501);
  EXPECT_EQ(tok->pad_id(), 501);  // pad_token is the EOS string in tokenizer_config.json
  EXPECT_EQ(tok->TokenToId("<image_placeholder>"), 502);
  const std::string text = "User: <image_placeholder><image_placeholder>What is this?\n\nAssistant:";
  auto ids = tok->Encode(text, true);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], 500);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 502), 2);
  EXPECT_EQ(tok->Decode(ids), "<｜begin▁of▁sentence｜>" + text);
  EXPECT_EQ(tok->Decode(ids, /*skip_special_tokens=*/true), "User: What is this?\n\nAssistant:");
}

TEST(Tokenizer, SpecialTokensInTextAreMatchedBeforeBpe) {
  auto tok = Tokenizer::Load(V3Dir());
  EXPECT_EQ(tok->TokenToId("<｜end▁of▁sentence｜>"), 1);
  auto ids = tok->Encode("Hi<｜end▁of▁sentence｜>there");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 1);
  EXPECT_EQ(tok->Decode(ids), "Hi<｜end▁of▁sentence｜>there");
  EXPECT_EQ(tok->Decode(ids, /*skip_special_tokens=*/true), "Hithere");
  // A near miss is plain text.
  auto near = tok->Encode("<｜end▁of▁sentence|>");
  EXPECT_EQ(std::count(near.begin(), near.end(), 1), 0);
  EXPECT_GT(near.size(), 1u);
}

TEST(Tokenizer, BosOnlyWithAddSpecialTokens) {
  auto tok = Tokenizer::Load(LlmDir());
  EXPECT_TRUE(tok->add_bos_token());
  EXPECT_EQ(tok->bos_id(), 100000);
  EXPECT_EQ(tok->eos_id(), 100001);
  EXPECT_EQ(tok->pad_id(), 100001);
  auto plain = tok->Encode("Hello world");
  auto with = tok->Encode("Hello world", true);
  ASSERT_EQ(with.size(), plain.size() + 1);
  EXPECT_EQ(with[0], 100000);
  EXPECT_NE(plain[0], 100000);
  // The 13 single-character added tokens are matched before BPE (README: Führer).
  EXPECT_EQ(tok->Encode("Führer"), (std::vector<int64_t>{37, 100014, 71, 6245}));
}

TEST(Tokenizer, AddSpecialTokenFollowsHfIdRule) {
  auto tok = Tokenizer::Load(V3Dir());
  EXPECT_EQ(tok->vocab_size(), 128815);
  // The VL2 processor registers these in this order; ids from docs/model-facts.md,
  // 'VL2 prompt and special tokens'.
  const char* vl2[] = {"<image>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "<|grounding|>", "<|User|>",
                       "<|Assistant|>"};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(tok->AddSpecialToken(vl2[i]), 128815 + i) << vl2[i];
  EXPECT_EQ(tok->AddSpecialToken("<image>"), 128815);  // already present: same id
  EXPECT_EQ(tok->AddSpecialToken("<｜▁pad▁｜>"), 2);
  EXPECT_EQ(tok->vocab_size(), 128823);
  auto ids = tok->Encode("<|User|>: <image>\n<|ref|>x<|/ref|>");
  EXPECT_EQ(ids.front(), 128821);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128815), 1);
  EXPECT_EQ(tok->IdToToken(128816), "<|ref|>");

  auto llm = Tokenizer::Load(LlmDir());
  EXPECT_EQ(llm->AddSpecialToken("<image>"), 100016);
}

TEST(Tokenizer, IdLookupsAndErrors) {
  auto tok = Tokenizer::Load(V3Dir());
  EXPECT_EQ(tok->TokenToId("no such token at all"), -1);
  EXPECT_EQ(tok->IdToToken(tok->TokenToId("Ġthe")), "Ġthe");
  EXPECT_THROW(tok->IdToToken(-1), Error);
  EXPECT_THROW(tok->IdToToken(tok->vocab_size()), Error);
  EXPECT_THROW(tok->Encode(std::string("bad \xFF utf8")), Error);
  EXPECT_EQ(tok->Decode({}), "");
  EXPECT_EQ(tok->Encode(""), std::vector<int64_t>{});
}

TEST(StreamDecoder, HoldsBackIncompleteCharacters) {
  auto tok = Tokenizer::Load(V3Dir());
  // Emoji and CJK are split into several byte-level tokens; check a stream never emits a partial
  // character and that the concatenation equals Decode.
  const std::string text = "A 😀🐉 and 你好世界, naïve café — ok<｜end▁of▁sentence｜>";
  auto ids = tok->Encode(text);
  StreamDecoder stream(*tok);
  std::string joined;
  bool saw_empty_push = false;
  for (int64_t id : ids) {
    std::string piece = stream.Push(id);
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "emitted a replacement character";
    if (piece.empty()) saw_empty_push = true;
    joined += piece;
  }
  joined += stream.Flush();
  EXPECT_EQ(joined, text);
  EXPECT_EQ(joined, tok->Decode(ids));
  EXPECT_TRUE(saw_empty_push) << "expected at least one token that ends mid-character";

  // Bytes that can never complete become U+FFFD at once, truncated tails at Flush.
  StreamDecoder s2(*tok);
  int64_t f0 = tok->TokenToId("ð");        // byte 0xF0, a 4-byte lead
  int64_t ff = tok->TokenToId("ÿ");        // byte 0xFF, never valid
  ASSERT_GE(f0, 0);
  ASSERT_GE(ff, 0);
  EXPECT_EQ(s2.Push(f0), "");
  EXPECT_EQ(s2.Push(ff), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(s2.Push(f0), "");
  EXPECT_EQ(s2.Flush(), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace dsvl
