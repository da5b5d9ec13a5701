// The word cache and the lazily filled character-class tables must never change results: the same
// text encodes to the same ids whatever was encoded before (cache empty, growing, or full of other
// words), and concurrent Encode calls on one Tokenizer agree with sequential ones.
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "npy.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

// The reference case texts, each also cut into a few random slices so that words recur in new
// surroundings.
std::vector<std::string> Texts(const std::string& name) {
  std::ifstream in(test::DataDir() + "/tokenizers/" + name + "/cases.jsonl");
  std::vector<std::string> texts;
  std::mt19937 rng(7);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::string t = nlohmann::json::parse(line).at("text").get<std::string>();
    texts.push_back(t);
    for (int k = 0; k < 2 && !t.empty(); ++k) {
      // Cut at character boundaries (Encode rejects invalid UTF-8).
      size_t a = std::uniform_int_distribution<size_t>(0, t.size() - 1)(rng);
      while (a > 0 && (static_cast<uint8_t>(t[a]) & 0xC0) == 0x80) --a;
      texts.push_back(t.substr(a));
    }
  }
  return texts;
}

void CheckOrderIndependence(const std::string& name) {
  const auto texts = Texts(name);
  ASSERT_GT(texts.size(), 1000u);
  const std::string dir = test::DataDir() + "/tokenizers/" + name;
  auto forward = Tokenizer::Load(dir);
  auto backward = Tokenizer::Load(dir);
  std::vector<std::vector<int64_t>> first(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) first[i] = forward->Encode(texts[i]);
  int failures = 0;
  for (size_t i = texts.size(); i-- > 0 && failures < 5;) {
    if (backward->Encode(texts[i]) != first[i]) {
      ++failures;
      ADD_FAILURE() << name << ": encode depends on the cache state for " << nlohmann::json(texts[i]).dump();
    }
  }
  for (size_t i = 0; i < texts.size() && failures < 5; ++i) {  // now every word is cached
    if (forward->Encode(texts[i]) != first[i]) {
      ++failures;
      ADD_FAILURE() << name << ": second encode differs for " << nlohmann::json(texts[i]).dump();
    }
  }

  // Two threads on a third, fresh tokenizer, one walking the texts forwards and one backwards (its
  // class tables and cache fill while both run).
  auto shared = Tokenizer::Load(dir);
  std::vector<std::vector<int64_t>> got[2] = {std::vector<std::vector<int64_t>>(texts.size()),
                                              std::vector<std::vector<int64_t>>(texts.size())};
  std::thread fwd([&] {
    for (size_t i = 0; i < texts.size(); ++i) got[0][i] = shared->Encode(texts[i]);
  });
  std::thread bwd([&] {
    for (size_t i = texts.size(); i-- > 0;) got[1][i] = shared->Encode(texts[i]);
  });
  fwd.join();
  bwd.join();
  for (size_t i = 0; i < texts.size() && failures < 5; ++i) {
    if (got[0][i] != first[i] || got[1][i] != first[i]) {
      ++failures;
      ADD_FAILURE() << name << ": concurrent encode differs for " << nlohmann::json(texts[i]).dump();
    }
  }
}

TEST(TokenizerCache, DeepSeekV3ResultsIndependentOfCacheState) { CheckOrderIndependence("deepseek-v3"); }
TEST(TokenizerCache, DeepSeekLlmResultsIndependentOfCacheState) { CheckOrderIndependence("deepseek-llm"); }

}  // namespace
}  // namespace dsvl
