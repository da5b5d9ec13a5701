// Bad tokenizer files must give a dsvl::Error whose message names the file and the field.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "text/tokenizer.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A small but complete byte-level BPE tokenizer.json.
json MinimalTokenizer() {
  return json::parse(R"({
    "version": "1.0",
    "added_tokens": [{"id": 6, "content": "<s>", "special": true, "normalized": false,
                      "lstrip": false, "rstrip": false, "single_word": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
    "post_processor": null,
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "byte_fallback": false,
              "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "c": 4, "abc": 5},
              "merges": ["a b", "ab c"]}
  })");
}

class TokenizerFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("dsvl_tok_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name) << content;
    return (dir_ / name).string();
  }
  // Loads a tokenizer.json with the given content and returns the error message (fails if none).
  std::string LoadError(const std::string& content) {
    std::string path = Write("tokenizer.json", content);
    try {
      Tokenizer::Load(dir_.string());
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "message must name the file: " << e.what();
      return e.what();
    }
    ADD_FAILURE() << "no error for " << content.substr(0, 200);
    return "";
  }

  fs::path dir_;
};

TEST_F(TokenizerFileTest, MinimalFileWorks) {
  Write("tokenizer.json", MinimalTokenizer().dump());
  auto tok = Tokenizer::Load(dir_.string());
  EXPECT_EQ(tok->Encode("abc ab<s>ba"), (std::vector<int64_t>{5, 3, 2, 6, 1, 0}));
  EXPECT_EQ(tok->Decode({5, 3, 2, 6}), "abc ab<s>");
  EXPECT_EQ(tok->bos_id(), -1);  // no tokenizer_config.json
  // Merges given as [left, right] pairs are the same.
  json j = MinimalTokenizer();
  j["model"]["merges"] = json::parse(R"([["a", "b"], ["ab", "c"]])");
  Write("tokenizer.json", j.dump());
  EXPECT_EQ(Tokenizer::Load(dir_.string())->Encode("abc"), (std::vector<int64_t>{5}));
}

TEST_F(TokenizerFileTest, MissingFile) {
  try {
    Tokenizer::Load((dir_ / "nope").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tokenizer::Load(dir_.string()), Error);  // directory without tokenizer.json
}

TEST_F(TokenizerFileTest, InvalidJson) {
  EXPECT_NE(LoadError("{\"model\": {").find("invalid JSON"), std::string::npos);
  EXPECT_NE(LoadError("[1, 2]").find("(root)"), std::string::npos);
  // A number beyond double's range is nlohmann's out_of_range, not parse_error (found by fuzz_tokenizer_load).
  EXPECT_NE(LoadError(R"({"model": {"vocab": {}, "merges": []}, "x": 1e400})").find("number overflow"),
            std::string::npos);
}

TEST_F(TokenizerFileTest, ConfigNumberOutOfRange) {
  Write("tokenizer.json", MinimalTokenizer().dump());
  const std::string config = Write("tokenizer_config.json", R"({"add_bos_token": true, "x": -1e999})");
  try {
    Tokenizer::Load(dir_.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
    EXPECT_NE(std::string(e.what()).find(config), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
  }
}

TEST_F(TokenizerFileTest, MissingModelOrVocab) {
  json j = MinimalTokenizer();
  j.erase("model");
  EXPECT_NE(LoadError(j.dump()).find("model"), std::string::npos);
  j = MinimalTokenizer();
  j["model"].erase("vocab");
  EXPECT_NE(LoadError(j.dump()).find("model.vocab"), std::string::npos);
  j = MinimalTokenizer();
  j["model"]["vocab"]["zz"] = "seven";
  EXPECT_NE(LoadError(j.dump()).find("model.vocab[\"zz\"]"), std::string::npos);
}

TEST_F(TokenizerFileTest, DuplicateVocabId) {
  json j = MinimalTokenizer();
  j["model"]["vocab"]["zz"] = 4;  // "c" has id 4 already
  const std::string msg = LoadError(j.dump());
  EXPECT_NE(msg.find("model.vocab"), std::string::npos) << msg;
  EXPECT_NE(msg.find("id 4 used twice"), std::string::npos) << msg;
}

TEST_F(TokenizerFileTest, UnknownModelType) {
  json j = MinimalTokenizer();
  j["model"]["type"] = "WordPiece";
  std::string msg = LoadError(j.dump());
  EXPECT_NE(msg.find("model.type"), std::string::npos) << msg;
  EXPECT_NE(msg.find("WordPiece"), std::string::npos) << msg;
}

TEST_F(TokenizerFileTest, BadMerge) {
  json j = MinimalTokenizer();
  j["model"]["merges"] = json::array({"a b", "ab x"});
  std::string msg = LoadError(j.dump());
  EXPECT_NE(msg.find("model.merges[1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"x\""), std::string::npos) << msg;
  j["model"]["merges"] = json::array({"b c"});  // both known, but "bc" is not in the vocabulary
  msg = LoadError(j.dump());
  EXPECT_NE(msg.find("model.merges[0]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"bc\""), std::string::npos) << msg;
  j["model"]["merges"] = json::array({"abc"});
  EXPECT_NE(LoadError(j.dump()).find("model.merges[0]"), std::string::npos);
}

TEST_F(TokenizerFileTest, InvalidRegex) {
  json j = MinimalTokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "[a-";
  std::string msg = LoadError(j.dump());
  EXPECT_NE(msg.find("pre_tokenizer.pretokenizers[0].pattern.Regex"), std::string::npos) << msg;
}

TEST_F(TokenizerFileTest, UnsupportedComponents) {
  json j = MinimalTokenizer();
  j["normalizer"] = json::parse(R"({"type": "NFC"})");
  std::string msg = LoadError(j.dump());
  EXPECT_NE(msg.find("normalizer.type"), std::string::npos) << msg;
  EXPECT_NE(msg.find("NFC"), std::string::npos) << msg;
  j = MinimalTokenizer();
  j["pre_tokenizer"]["pretokenizers"][0] = json::parse(R"({"type": "Metaspace"})");
  msg = LoadError(j.dump());
  EXPECT_NE(msg.find("pre_tokenizer.pretokenizers[0].type"), std::string::npos) << msg;
  j = MinimalTokenizer();
  j["decoder"] = json::parse(R"({"type": "WordPiece"})");
  EXPECT_NE(LoadError(j.dump()).find("decoder.type"), std::string::npos);
  j = MinimalTokenizer();
  j["model"]["byte_fallback"] = true;
  EXPECT_NE(LoadError(j.dump()).find("model.byte_fallback"), std::string::npos);
  j = MinimalTokenizer();
  j["added_tokens"][0].erase("id");
  EXPECT_NE(LoadError(j.dump()).find("added_tokens[0].id"), std::string::npos);
}

TEST_F(TokenizerFileTest, BadTokenizerConfig) {
  Write("tokenizer.json", MinimalTokenizer().dump());
  std::string config = Write("tokenizer_config.json", "{\"add_bos_token\": tru");
  try {
    Tokenizer::Load(dir_.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(config), std::string::npos) << e.what();
  }
  Write("tokenizer_config.json", R"({"add_bos_token": "yes"})");
  try {
    Tokenizer::Load(dir_.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("add_bos_token"), std::string::npos) << e.what();
  }
  // A valid config: BOS "<s>" from the added tokens.
  Write("tokenizer_config.json", R"({"add_bos_token": true, "bos_token": {"content": "<s>"}, "eos_token": null})");
  auto tok = Tokenizer::Load(dir_.string());
  EXPECT_EQ(tok->bos_id(), 6);
  EXPECT_EQ(tok->eos_id(), -1);
  EXPECT_EQ(tok->Encode("ab", true), (std::vector<int64_t>{6, 2}));
}

}  // namespace
}  // namespace dsvl
