// Tokenizer::Load: reads tokenizer.json (+ tokenizer_config.json) and builds the components.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "dsvl/error.h"
#include "text/added_vocab.h"
#include "text/bpe.h"
#include "text/json_util.h"
#include "text/pre_tokenizer.h"
#include "text/tokenizer.h"
#include "text/word_cache.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using text::GetArray;
using text::GetBool;
using text::GetInt;
using text::GetMember;
using text::GetString;

json ParseJsonFile(const std::string& path, size_t max_bytes, const json::parser_callback_t& callback = nullptr) {
  // ReadFileToString checks the size before reading anything.
  std::string content = ReadFileToString(path, max_bytes);
  try {
    return json::parse(content, callback);
  } catch (const json::exception& e) {
    // Not only parse_error: a number beyond double's range (1e400) throws out_of_range.
    Throw(ErrorCode::kCorruptData, ErrorContext{path, "", "", "", std::string("invalid JSON: ") + e.what()});
  }
}

// Parses tokenizer.json, moving model.vocab and model.merges entries straight into `raw` instead of
// the DOM (nlohmann's DOM stores objects in std::map; building and walking 250k entries of it took
// more time than the parse itself). The emptied "vocab" object and "merges" array stay in the DOM.
json ParseTokenizerJson(const std::string& path, size_t max_bytes, text::RawBpeTables& raw) {
  std::vector<std::string> keys(8);  // keys[d]: last key seen at depth d
  std::string pending_key;
  bool have_key = false;
  std::pair<std::string, std::string> pair;
  int pair_items = -1;  // >= 0 while inside a [left, right] merge
  auto in = [&](int depth, const char* field) {
    return depth == 3 && keys[1] == "model" && keys[2] == field;
  };
  auto fail = [&](std::string field, std::string detail) {
    if (raw.error_field.empty()) {
      raw.error_field = std::move(field);
      raw.error_detail = std::move(detail);
    }
  };
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    using E = json::parse_event_t;
    if (event == E::key) {
      if (in(depth, "vocab")) {
        pending_key = parsed.get<std::string>();
        have_key = true;
        return false;
      }
      if (depth >= 0 && depth < static_cast<int>(keys.size())) keys[depth] = parsed.get<std::string>();
      for (size_t d = depth + 1; d < keys.size(); ++d) keys[d].clear();
      return true;
    }
    if (in(depth, "vocab") && event == E::value && have_key) {
      have_key = false;
      if (!text::IsVocabId(parsed)) {
        fail("model.vocab[\"" + pending_key + "\"]", "expected a non-negative integer id, got " + parsed.dump());
      } else {
        raw.vocab.emplace_back(std::move(pending_key), parsed.get<int64_t>());
      }
      return false;
    }
    if (in(depth, "merges")) {
      const std::string index = "model.merges[" + std::to_string(raw.merges.size()) + "]";
      if (event == E::value) {
        if (!parsed.is_string() || !text::SplitMergeString(parsed.get_ref<const std::string&>(), pair)) {
          fail(index, "expected \"left right\" or [left, right], got " + parsed.dump());
        }
        raw.merges.push_back(std::move(pair));
        return false;
      }
      if (event == E::array_start) {
        pair_items = 0;
        return true;  // its items arrive at depth 4 and are taken below
      }
      if (event == E::array_end) {
        if (pair_items != 2) fail(index, "expected [left, right] with 2 strings");
        raw.merges.push_back(std::move(pair));
        pair_items = -1;
        return false;
      }
      if (event == E::object_start || event == E::object_end) {
        fail(index, "expected \"left right\" or [left, right], got an object");
      }
      return true;
    }
    if (depth == 4 && pair_items >= 0 && event == E::value) {
      if (!parsed.is_string() || pair_items >= 2) {
        pair_items = 3;
      } else {
        (pair_items == 0 ? pair.first : pair.second) = parsed.get<std::string>();
        ++pair_items;
      }
      return false;
    }
    return true;
  };
  return ParseJsonFile(path, max_bytes, callback);
}

// Only identity normalizers are supported (DeepSeek files have none, or an empty Sequence); anything
// else would change the text before matching and must not be silently ignored.
void CheckNormalizer(const json& n, const std::string& where, const std::string& field) {
  if (n.is_null()) return;
  std::string type = GetString(n, "type", where, field);
  if (type == "Sequence") {
    const auto& list = GetArray(n, "normalizers", where, field);
    for (size_t i = 0; i < list.size(); ++i) {
      CheckNormalizer(list[i], where, field + ".normalizers[" + std::to_string(i) + "]");
    }
    return;
  }
  Throw(ErrorCode::kUnsupported, ErrorContext{where, field + ".type", "null or an empty Sequence", type,
                                              "normalizers are not supported"});
}

// A special-token entry of tokenizer_config.json: a string, {"content": ...} or null.
std::string ConfigToken(const json& config, const char* key, const std::string& where) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return GetString(*it, "content", where, key);
  Throw(ErrorCode::kCorruptData, ErrorContext{where, key, "string, object or null", it->type_name(), ""});
}

[[noreturn]] void ThrowVocabLimit(const std::string& file, const std::string& field, int64_t id,
                                  const TokenizerLimits& limits) {
  Throw(ErrorCode::kLimitExceeded,
        ErrorContext{file, field, "an id below the vocabulary limit " + std::to_string(limits.max_vocab_size),
                     std::to_string(id), "(TokenizerLimits::max_vocab_size, see docs/limits.md)"});
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::Load(const std::string& path, const TokenizerLimits& limits) {
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) file = (fs::path(path) / "tokenizer.json").string();
  if (!fs::exists(file, ec)) {
    Throw(ErrorCode::kNotFound, ErrorContext{file, "", "", "", "tokenizer file not found"});
  }
  text::RawBpeTables raw;
  json j = ParseTokenizerJson(file, limits.max_file_bytes, raw);
  // Ids index the id -> token tables: bound them before BpeModel sizes its tables by the largest.
  if (static_cast<int64_t>(raw.vocab.size()) > limits.max_vocab_size) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{file, "model.vocab", "at most " + std::to_string(limits.max_vocab_size) + " entries",
                       std::to_string(raw.vocab.size()), "(TokenizerLimits::max_vocab_size, see docs/limits.md)"});
  }
  for (const auto& [token, id] : raw.vocab) {
    if (id >= limits.max_vocab_size) {
      ThrowVocabLimit(file, "model.vocab[\"" + token.substr(0, 64) + (token.size() > 64 ? "..." : "") + "\"]", id,
                      limits);
    }
  }
  if (!j.is_object()) {
    Throw(ErrorCode::kCorruptData, ErrorContext{file, "(root)", "object", j.type_name(), ""});
  }

  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  tok->bpe_ = text::BpeModel::FromJson(GetMember(j, "model", file, ""), file, &raw);
  CheckNormalizer(j.value("normalizer", json()), file, "normalizer");
  tok->pre_ = text::PreTokenizer::FromJson(j.value("pre_tokenizer", json()), file);

  const json decoder = j.value("decoder", json());
  if (!decoder.is_null()) {
    std::string type = GetString(decoder, "type", file, "decoder");
    if (type != "ByteLevel") {
      Throw(ErrorCode::kUnsupported, ErrorContext{file, "decoder.type", "ByteLevel or null", type, ""});
    }
    tok->byte_level_decoder_ = true;
  }
  // The post-processor only affects offsets (ByteLevel) or adds BOS/EOS (TemplateProcessing), which
  // transformers' LlamaTokenizerFast rebuilds from tokenizer_config.json anyway.
  const json post = j.value("post_processor", json());
  if (!post.is_null()) {
    std::string type = GetString(post, "type", file, "post_processor");
    if (type != "ByteLevel" && type != "TemplateProcessing") {
      Throw(ErrorCode::kUnsupported,
            ErrorContext{file, "post_processor.type", "ByteLevel, TemplateProcessing or null", type, ""});
    }
  }

  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    const auto& list = GetArray(j, "added_tokens", file, "");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string field = "added_tokens[" + std::to_string(i) + "]";
      text::AddedToken t;
      t.id = GetInt(list[i], "id", file, field);
      t.content = GetString(list[i], "content", file, field);
      if (t.id < 0) Throw(ErrorCode::kCorruptData, ErrorContext{file, field + ".id", ">= 0", std::to_string(t.id), ""});
      if (t.id >= limits.max_vocab_size) ThrowVocabLimit(file, field + ".id", t.id, limits);
      if (t.content.empty()) Throw(ErrorCode::kCorruptData, ErrorContext{file, field + ".content", "non-empty", "\"\"", ""});
      t.special = GetBool(list[i], "special", file, field, false);
      t.single_word = GetBool(list[i], "single_word", file, field, false);
      t.lstrip = GetBool(list[i], "lstrip", file, field, false);
      t.rstrip = GetBool(list[i], "rstrip", file, field, false);
      t.normalized = GetBool(list[i], "normalized", file, field, !t.special);
      tok->added_->Add(t);
    }
  }

  fs::path config = fs::path(file).parent_path() / "tokenizer_config.json";
  if (fs::exists(config, ec)) tok->LoadConfig(config.string(), limits.max_config_bytes);
  return tok;
}

void Tokenizer::LoadConfig(const std::string& path, size_t max_bytes) {
  json c = ParseJsonFile(path, max_bytes);
  if (!c.is_object()) Throw(ErrorCode::kCorruptData, ErrorContext{path, "(root)", "object", c.type_name(), ""});
  // transformers' LlamaTokenizerFast defaults add_bos_token to true; other classes add nothing.
  std::string cls = c.contains("tokenizer_class") && c["tokenizer_class"].is_string()
                        ? c["tokenizer_class"].get<std::string>()
                        : "";
  add_bos_ = GetBool(c, "add_bos_token", path, "", cls.rfind("Llama", 0) == 0);
  add_eos_ = GetBool(c, "add_eos_token", path, "", false);
  // A special token named in the config but absent from the vocabulary is added, as transformers does.
  auto resolve = [&](const char* key) -> int64_t {
    std::string s = ConfigToken(c, key, path);
    if (s.empty()) return -1;
    int64_t id = TokenToId(s);
    return id >= 0 ? id : AddSpecialToken(s);
  };
  bos_id_ = resolve("bos_token");
  eos_id_ = resolve("eos_token");
  pad_id_ = resolve("pad_token");
}

}  // namespace dsvl
