// Seeded randomized properties: encode/decode round trips on mixed-script text, and a stream decoder
// that always agrees with Decode, also on id sequences that decode to invalid UTF-8.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "npy.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace dsvl {
namespace {

// Random text drawn from ASCII, whitespace, Latin-1, Cyrillic, CJK, Hangul, emoji and the specials'
// building blocks ('<', '｜', '▁').
std::string RandomText(std::mt19937& rng, bool allow_latin1) {
  static const std::pair<uint32_t, uint32_t> ranges[] = {
      {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0xFF}, {0x400, 0x4FF}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3},
      {0x1F300, 0x1F64F}, {0x3000, 0x303F}, {0xFF5C, 0xFF5C}, {0x2581, 0x2581}, {0x30, 0x39}};
  std::uniform_int_distribution<int> len_dist(0, 40), range_dist(0, std::size(ranges) - 1);
  std::string s;
  int n = len_dist(rng);
  for (int i = 0; i < n; ++i) {
    auto [lo, hi] = ranges[range_dist(rng)];
    if (!allow_latin1 && lo == 0xA0) continue;
    text::AppendCodePoint(std::uniform_int_distribution<uint32_t>(lo, hi)(rng), s);
  }
  return s;
}

TEST(TokenizerProperty, RoundTripV3) {
  auto tok = Tokenizer::Load(test::DataDir() + "/tokenizers/deepseek-v3");
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::string text = RandomText(rng, true);
    ASSERT_EQ(tok->Decode(tok->Encode(text)), text) << "case " << i;
  }
}

TEST(TokenizerProperty, RoundTripDeepSeekLlm) {
  // Latin-1 is excluded: 13 of its letters are added tokens whose decoding is a lone byte (README).
  auto tok = Tokenizer::Load(test::DataDir() + "/tokenizers/deepseek-llm");
  std::mt19937 rng(99);
  for (int i = 0; i < 2000; ++i) {
    std::string text = RandomText(rng, false);
    ASSERT_EQ(tok->Decode(tok->Encode(text)), text) << "case " << i;
  }
}

TEST(TokenizerProperty, StreamMatchesDecodeOnRandomIds) {
  auto tok = Tokenizer::Load(test::DataDir() + "/tokenizers/deepseek-v3");
  std::mt19937 rng(7);
  // Mostly single-byte tokens (ids 3..258 are the 256 bytes) so invalid and split sequences are common.
  std::uniform_int_distribution<int64_t> byte_id(3, 258), any_id(0, tok->vocab_size() - 1);
  std::uniform_int_distribution<int> coin(0, 9);
  for (int i = 0; i < 500; ++i) {
    std::vector<int64_t> ids(std::uniform_int_distribution<int>(0, 30)(rng));
    for (auto& id : ids) id = coin(rng) < 8 ? byte_id(rng) : any_id(rng);
    StreamDecoder stream(*tok);
    std::string joined;
    for (int64_t id : ids) joined += stream.Push(id);
    joined += stream.Flush();
    ASSERT_EQ(joined, tok->Decode(ids)) << "case " << i;
  }
}

}  // namespace
}  // namespace dsvl
