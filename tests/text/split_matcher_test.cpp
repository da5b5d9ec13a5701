// The fast split matchers must find exactly the matches Oniguruma finds (the reference path the
// tokenizer used before, and what HF `tokenizers` runs). Checked on random text built from runs of
// characters around every class edge the DeepSeek patterns have (ASCII, Latin/Greek letters, CJK,
// kana, Hangul, fullwidth and CJK punctuation, emoji, combining marks, digits of many scripts,
// Unicode whitespace and line terminators), plus uniformly random code points.
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "npy.h"
#include "text/pre_tokenizer.h"
#include "text/regex.h"
#include "text/split_matcher.h"
#include "text/utf8.h"

namespace dsvl::text {
namespace {

using Matches = std::vector<std::pair<size_t, size_t>>;

class RandomText {
 public:
  explicit RandomText(uint32_t seed) : rng_(seed) {}

  std::string Next() {
    std::string s;
    const int runs = Uniform(0, 8);
    for (int r = 0; r < runs; ++r) {
      const auto& pool = kPools[Uniform(0, static_cast<int>(std::size(kPools)) - 1)];
      const int len = Uniform(1, 6);
      for (int i = 0; i < len; ++i) AppendCodePoint(Pick(pool), s);
    }
    return s;
  }

 private:
  struct Range {
    uint32_t lo, hi;
  };
  using Pool = std::vector<Range>;
  // Pools of characters that tend to come in runs; each also mixes in a few neighbours.
  inline static const Pool kPools[] = {
      {{'a', 'z'}, {'A', 'Z'}},
      {{'0', '9'}},
      {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}},
      {{' ', ' '}, {' ', ' '}, {'\t', '\t'}},
      {{'\r', '\r'}, {'\n', '\n'}, {0x0B, 0x0C}, {0x85, 0x85}, {0x2028, 0x2029}},
      {{0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200B}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}},
      {{0xA1, 0xFF}, {0x100, 0x2AF}, {0x370, 0x3FF}, {0x400, 0x52F}, {0x1F00, 0x1FFF}, {0x2100, 0x214F}},
      {{0x300, 0x36F}, {0x1AB0, 0x1AFF}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}},
      {{0x4E00, 0x4E10}, {0x4E00, 0x9FA5}, {0x9FA0, 0x9FFF}, {0x3400, 0x4DBF}, {0x800, 0x900}},
      {{0x3040, 0x30FF}, {0x3000, 0x303F}, {0xAC00, 0xD7FF}, {0x1100, 0x11FF}},
      {{0xFF01, 0xFF5E}, {0x2018, 0x201F}, {0x3001, 0x3002}, {0x2010, 0x2027}},
      {{0x1F300, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x200D, 0x200D}, {0xFE0F, 0xFE0F}, {0x1F3FB, 0x1F3FF}},
      {{0x660, 0x669}, {0x966, 0x96F}, {0x2460, 0x249B}, {0x2160, 0x2188}, {0xFF10, 0xFF19}, {0xB2, 0xB3}},
      {{0x10400, 0x1044F}, {0x1E900, 0x1E94B}, {0xE000, 0xE010}, {0xFFFE, 0xFFFF}, {0x0, 0x1F}, {0x7F, 0x9F}},
      {{0x0, 0xD7FF}, {0xE000, 0x10FFFF}},
  };

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  uint32_t Pick(const Pool& pool) {
    const Range& r = pool[Uniform(0, static_cast<int>(pool.size()) - 1)];
    return std::uniform_int_distribution<uint32_t>(r.lo, r.hi)(rng_);
  }

  std::mt19937 rng_;
};

std::string Escaped(const std::string& s) { return nlohmann::json(s).dump(); }

// Compares the fast matcher with Oniguruma on `count` random texts (stops after 5 failures).
void ExpectSameAsOniguruma(const std::string& pattern, uint32_t seed, int count) {
  SCOPED_TRACE("pattern " + Escaped(pattern));
  Regex regex(pattern, "test");
  auto fast = MakeSplitMatcher(pattern, regex, "test");
  ASSERT_NE(fast, nullptr) << "pattern not recognised";
  RandomText gen(seed);
  Matches expected, got;
  int failures = 0;
  for (int i = 0; i < count && failures < 5; ++i) {
    const std::string text = gen.Next();
    expected.clear();
    got.clear();
    regex.FindAll(text, expected);
    fast->FindAll(text, got);
    if (got != expected) {
      ++failures;
      ADD_FAILURE() << "text " << Escaped(text) << ": " << got.size() << " matches, Oniguruma " << expected.size();
    }
  }
}

std::vector<std::string> SplitPatterns(const std::string& name) {
  std::ifstream in(test::DataDir() + "/tokenizers/" + name + "/tokenizer.json");
  const auto j = nlohmann::json::parse(in);
  std::vector<std::string> patterns;
  for (const auto& p : j.at("pre_tokenizer").at("pretokenizers")) {
    if (p.at("type") == "Split") patterns.push_back(p.at("pattern").at("Regex").get<std::string>());
  }
  return patterns;
}

TEST(SplitMatcher, DeepSeekV3PatternsMatchOniguruma) {
  const auto patterns = SplitPatterns("deepseek-v3");
  ASSERT_EQ(patterns.size(), 3u);
  for (size_t i = 0; i < patterns.size(); ++i) ExpectSameAsOniguruma(patterns[i], 100 + i, 30000);
}

TEST(SplitMatcher, DeepSeekLlmPatternsMatchOniguruma) {
  const auto patterns = SplitPatterns("deepseek-llm");
  ASSERT_EQ(patterns.size(), 5u);
  for (size_t i = 0; i < patterns.size(); ++i) ExpectSameAsOniguruma(patterns[i], 200 + i, 30000);
  ExpectSameAsOniguruma(R"(\p{N})", 210, 30000);  // the Digits step
}

TEST(SplitMatcher, OtherShapesMatchOniguruma) {
  const char* patterns[] = {R"(\s+)", R"(\S+)", R"([a-z0-9]{1,2})", R"(\p{L}{1,5})", R"(\S?\p{L}+)",
                            R"([^\s\p{N}]?[\p{Lu}\p{M}]+)", R"(\s?\s+)", R"([\]\\a-c]+)", R"(\P{L}+$)",
                            R"(\S+$)", R"([^a-z])"};
  uint32_t seed = 300;
  for (const char* p : patterns) ExpectSameAsOniguruma(p, seed++, 10000);
}

TEST(SplitMatcher, LeavesOtherPatternsToOniguruma) {
  const char* patterns[] = {
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",  // GPT-2
      R"([[:alpha:]]+)", R"([a-z&&[^aeiou]]+)", R"(a+)", R"(\s+(?!\S))", R"(\d+)", R"([]a]+)", R"([^]a]+)",
      R"(\p{N}{2,3})", R"(\p{N}{1,})", R"(\s+$x)", R"(\s??\p{L}+)", R"(\p{^L}+)"};
  for (const char* p : patterns) {
    Regex regex(p, "test");
    EXPECT_EQ(MakeSplitMatcher(p, regex, "test"), nullptr) << p;
  }
}

// The whole pre-tokenizer pipelines of both files, fast matchers against Oniguruma throughout.
void ExpectPipelineSameAsOniguruma(const std::string& name, uint32_t seed) {
  std::ifstream in(test::DataDir() + "/tokenizers/" + name + "/tokenizer.json");
  const auto j = nlohmann::json::parse(in);
  auto fast = PreTokenizer::FromJson(j.at("pre_tokenizer"), name, true);
  auto slow = PreTokenizer::FromJson(j.at("pre_tokenizer"), name, false);
  RandomText gen(seed);
  std::string scratch_fast, scratch_slow;
  std::vector<std::string_view> pieces_fast, pieces_slow;
  int failures = 0;
  for (int i = 0; i < 20000 && failures < 5; ++i) {
    // Longer texts than for single patterns, so every step sees pieces cut by the previous ones.
    const std::string text = gen.Next() + gen.Next() + gen.Next();
    pieces_fast.clear();
    pieces_slow.clear();
    fast->Split(text, scratch_fast, pieces_fast);
    slow->Split(text, scratch_slow, pieces_slow);
    if (pieces_fast != pieces_slow) {
      ++failures;
      ADD_FAILURE() << name << ": pieces differ for " << Escaped(text);
    }
  }
}

TEST(SplitMatcher, DeepSeekV3PipelineMatchesOniguruma) { ExpectPipelineSameAsOniguruma("deepseek-v3", 400); }
TEST(SplitMatcher, DeepSeekLlmPipelineMatchesOniguruma) { ExpectPipelineSameAsOniguruma("deepseek-llm", 401); }

}  // namespace
}  // namespace dsvl::text
