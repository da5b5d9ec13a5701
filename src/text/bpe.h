// The BPE model of an HF tokenizer.json: vocabulary, ranked merges, and the merge loop that turns
// one pre-token into ids.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/merge_table.h"
#include "text/token_index.h"

namespace dsvl::text {

// model.vocab and model.merges as read by the streaming JSON loader (tokenizer_load.cpp), which
// keeps these 250k entries out of the JSON DOM: that halves the load time of an 8 MB file.
struct RawBpeTables {
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // (left, right)
  std::string error_field, error_detail;                    // first malformed entry, if any
};

class BpeModel {
 public:
  // `model` is the tokenizer.json "model" object (its vocab/merges may have been moved into `raw`;
  // if `raw` is null they are read from `model`). Throws dsvl::Error naming `where` and the field
  // (model.type, model.vocab, model.merges[i], ...) on anything malformed or unsupported.
  static std::unique_ptr<BpeModel> FromJson(const nlohmann::json& model, const std::string& where,
                                            RawBpeTables* raw = nullptr);

  // Appends the ids of one pre-token, given in the model's alphabet (byte-level characters for
  // byte-level BPE). Characters missing from the vocabulary are dropped, as HF does without unk.
  void Tokenize(std::string_view word, std::vector<int32_t>& out) const;

  int32_t TokenToId(std::string_view token) const;    // -1 if absent
  const std::string* IdToToken(int64_t id) const;     // nullptr if absent
  int64_t max_id() const { return static_cast<int64_t>(id_to_token_.size()) - 1; }

 private:
  const BpeMerge* FindMerge(int32_t a, int32_t b) const { return merges_.Find(a, b); }
  void SplitChars(std::string_view word, std::vector<int32_t>& symbols) const;
  void MergeSmall(std::vector<int32_t>& symbols) const;
  void MergeLarge(std::vector<int32_t>& symbols) const;

  TokenIndex vocab_;  // keys are the strings in id_to_token_
  std::vector<std::string> id_to_token_;  // "" with has_id_ false for holes in the id range
  std::vector<bool> has_id_;
  MergeTable merges_;
  std::array<int32_t, 512> small_char_id_{};  // id of the one-character token for code points < 512
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
};

// Helpers shared with the streaming loader.
bool IsVocabId(const nlohmann::json& v);                                           // 0 <= int <= INT32_MAX
bool SplitMergeString(const std::string& s, std::pair<std::string, std::string>& out);  // "a b"
bool ParseMerge(const nlohmann::json& m, std::pair<std::string, std::string>& out);     // "a b" or [a, b]
void ReadRawTables(const nlohmann::json& model, const std::string& where, RawBpeTables& raw);

}  // namespace dsvl::text
