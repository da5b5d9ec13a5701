// TokenizerLimits: a tokenizer.json (or tokenizer_config.json) cannot make dsvl read a file beyond
// the size limit (refused from its size, before reading) or allocate id tables beyond the
// vocabulary limit (one huge id would otherwise size a table of 2^31 entries).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "error_code.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CodeOf;

json SmallTokenizer() {
  return json::parse(R"({
    "added_tokens": [{"id": 6, "content": "<s>", "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "byte_fallback": false,
              "vocab": {"a": 0, "b": 1, "ab": 2, "c": 4},
              "merges": ["a b"]}
  })");
}

class TokenizerLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsvl_tok_limits_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name) << content;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(TokenizerLimitsTest, SmallTokenizerLoads) {
  Write("tokenizer.json", SmallTokenizer().dump());
  EXPECT_EQ(CodeOf([&] { Tokenizer::Load(dir_.string()); }), ErrorCode::kOk);
}

// A sparse 1 GiB tokenizer.json (no disk blocks) is refused from its size at once, under the default
// 128 MiB limit, without reading it.
TEST_F(TokenizerLimitsTest, OversizedFileIsRefusedWithoutReadingIt) {
  const std::string path = Write("tokenizer.json", "{");
  fs::resize_file(path, uintmax_t{1} << 30);
  const auto start = std::chrono::steady_clock::now();
  std::string what;
  EXPECT_EQ(CodeOf([&] { Tokenizer::Load(dir_.string()); }, &what), ErrorCode::kLimitExceeded);
  EXPECT_EQ(what, path + ": file size: expected <= 134217728, got 1073741824");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);

  // A caller's smaller limit applies to an ordinary file.
  Write("tokenizer.json", SmallTokenizer().dump());
  TokenizerLimits limits;
  limits.max_file_bytes = 64;
  EXPECT_EQ(CodeOf([&] { Tokenizer::Load(dir_.string(), limits); }, &what), ErrorCode::kLimitExceeded);
  EXPECT_NE(what.find(path + ": file size: expected <= 64, got "), std::string::npos) << what;
}

TEST_F(TokenizerLimitsTest, OversizedConfigIsRefused) {
  Write("tokenizer.json", SmallTokenizer().dump());
  const std::string config = Write("tokenizer_config.json", "{}");
  fs::resize_file(config, uintmax_t{1} << 28);
  std::string what;
  EXPECT_EQ(CodeOf([&] { Tokenizer::Load(dir_.string()); }, &what), ErrorCode::kLimitExceeded);
  EXPECT_EQ(what, config + ": file size: expected <= 16777216, got 268435456");
}

TEST_F(TokenizerLimitsTest, HugeTokenIdsAreRefusedBeforeTablesAreSized) {
  json t = SmallTokenizer();
  t["model"]["vocab"]["c"] = 2147483647;  // valid int32, would size a 2^31-entry table
  const std::string path = Write("tokenizer.json", t.dump());
  std::string what;
  EXPECT_EQ(CodeOf([&] { Tokenizer::Load(dir_.string()); }, &what), ErrorCode::kLimitExceeded);
  EXPECT_EQ(what, path +
                      ": model.vocab[\"c\"]: expected an id below the vocabulary limit 2097152, got 2147483647: "
                      "(TokenizerLimits::max_vocab_size, see docs/limits.md)");

  t = SmallTokenizer();
  t["added_tokens"][0]["id"] = 5000000;
  Write("tokenizer.json", t.dump());
  EXPECT_EQ(CodeOf([&] { Tokenizer::Load(dir_.string()); }, &what), ErrorCode::kLimitExceeded);
  EXPECT_EQ(what, path +
                      ": added_tokens[0].id: expected an id below the vocabulary limit 2097152, got 5000000: "
                      "(TokenizerLimits::max_vocab_size, see docs/limits.md)");

  // A lower limit counts entries too.
  TokenizerLimits limits;
  limits.max_vocab_size = 3;
  Write("tokenizer.json", SmallTokenizer().dump());
  EXPECT_EQ(CodeOf([&] { Tokenizer::Load(dir_.string(), limits); }, &what), ErrorCode::kLimitExceeded);
  EXPECT_EQ(what, path + ": model.vocab: expected at most 3 entries, got 4: (TokenizerLimits::max_vocab_size, see "
                         "docs/limits.md)");
}

}  // namespace
}  // namespace dsvl
