// Every line of the reference cases (made by the Hugging Face `tokenizers` library) must be
// reproduced exactly: the ids of encode(text, add_special_tokens=false) and decode(ids).
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "npy.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

void CheckCases(const std::string& name) {
  const std::string dir = test::DataDir() + "/tokenizers/" + name;
  auto tok = Tokenizer::Load(dir);
  std::ifstream in(dir + "/cases.jsonl");
  ASSERT_TRUE(in) << dir << "/cases.jsonl";
  std::string line;
  int line_no = 0, checked = 0, failures = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto c = nlohmann::json::parse(line);
    const auto text = c.at("text").get<std::string>();
    const auto expected_ids = c.at("ids").get<std::vector<int64_t>>();
    const auto expected_decoded = c.at("decoded").get<std::string>();
    std::vector<int64_t> ids = tok->Encode(text, false);
    std::string decoded = tok->Decode(expected_ids, false);
    if (ids != expected_ids) {
      ++failures;
      ADD_FAILURE() << name << " line " << line_no << ": ids differ for text " << nlohmann::json(text).dump()
                    << "\n  expected " << nlohmann::json(expected_ids).dump() << "\n  got      "
                    << nlohmann::json(ids).dump();
    }
    if (decoded != expected_decoded) {
      ++failures;
      ADD_FAILURE() << name << " line " << line_no << ": decoded differs\n  expected "
                    << nlohmann::json(expected_decoded).dump() << "\n  got      " << nlohmann::json(decoded).dump();
    }
    ++checked;
  }
  EXPECT_GT(checked, 500) << "cases file truncated?";
  EXPECT_EQ(failures, 0);
}

TEST(TokenizerCases, DeepSeekV3) { CheckCases("deepseek-v3"); }
TEST(TokenizerCases, DeepSeekLlm) { CheckCases("deepseek-llm"); }

}  // namespace
}  // namespace dsvl
