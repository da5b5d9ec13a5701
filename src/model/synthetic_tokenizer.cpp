#include "model/synthetic_tokenizer.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "dsvl/error.h"
#include "model/synthetic_tokenizer_data.h"
#include "text/byte_level.h"
#include "text/pre_tokenizer.h"

namespace dsvl {
namespace {

using ojson = nlohmann::ordered_json;

constexpr int64_t kByteTokens = 256;

std::string ByteToken(uint8_t b) {
  std::string s;
  text::AppendByteLevel(std::string_view(reinterpret_cast<const char*>(&b), 1), s);
  return s;
}

// Classic BPE training (Sennrich et al.): repeatedly merge the most frequent adjacent pair of the
// words of a pre-tokenised text. Ties go to the lexicographically smallest pair so the result is
// deterministic. Returns merges as (left, right) token strings; stops early if nothing is left to
// merge.
std::vector<std::pair<std::string, std::string>> TrainMerges(PreTokenizerStyle style, size_t max_merges) {
  const nlohmann::json pre_json = RealPreTokenizerJson(style);
  auto pre = text::PreTokenizer::FromJson(pre_json, "embedded pre_tokenizer");
  std::string scratch;
  std::vector<std::string_view> pieces;
  const std::string sample = synthetic_tokenizer_data::kEnglishSample;
  pre->Split(sample, scratch, pieces);

  // Token strings by id; words as id sequences with their frequency.
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int> token_id;
  auto intern = [&](const std::string& s) {
    auto [it, inserted] = token_id.emplace(s, static_cast<int>(tokens.size()));
    if (inserted) tokens.push_back(s);
    return it->second;
  };
  std::map<std::string, int64_t> word_freq;
  for (std::string_view p : pieces) ++word_freq[std::string(p)];
  std::vector<std::pair<std::vector<int>, int64_t>> words;
  for (const auto& [w, f] : word_freq) {
    std::vector<int> ids;
    for (char c : w) ids.push_back(intern(ByteToken(static_cast<uint8_t>(c))));
    words.emplace_back(std::move(ids), f);
  }

  std::vector<std::pair<std::string, std::string>> merges;
  while (merges.size() < max_merges) {
    std::map<std::pair<int, int>, int64_t> counts;
    for (const auto& [ids, f] : words)
      for (size_t i = 0; i + 1 < ids.size(); ++i) counts[{ids[i], ids[i + 1]}] += f;
    if (counts.empty()) break;
    auto best = counts.begin();
    for (auto it = counts.begin(); it != counts.end(); ++it) {
      if (it->second > best->second) {
        best = it;
      } else if (it->second == best->second) {
        const auto key = std::tie(tokens[it->first.first], tokens[it->first.second]);
        const auto best_key = std::tie(tokens[best->first.first], tokens[best->first.second]);
        if (key < best_key) best = it;
      }
    }
    const auto [a, b] = best->first;
    const std::string left = tokens[a], right = tokens[b];
    const int merged = intern(left + right);
    merges.emplace_back(left, right);
    for (auto& [ids, f] : words) {
      std::vector<int> out;
      out.reserve(ids.size());
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i + 1 < ids.size() && ids[i] == a && ids[i + 1] == b) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(ids[i]);
        }
      }
      ids = std::move(out);
    }
  }
  return merges;
}

ojson AddedTokenJson(const SpecialTokenSpec& s) {
  ojson t;
  t["id"] = s.id;
  t["content"] = s.content;
  t["single_word"] = false;
  t["lstrip"] = false;
  t["rstrip"] = false;
  t["normalized"] = false;
  t["special"] = true;
  return t;
}

ojson ByteLevelStep(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  ojson j;
  j["type"] = "ByteLevel";
  j["add_prefix_space"] = add_prefix_space;
  j["trim_offsets"] = trim_offsets;
  j["use_regex"] = use_regex;
  return j;
}

}  // namespace

nlohmann::json RealPreTokenizerJson(PreTokenizerStyle style) {
  const char* text = style == PreTokenizerStyle::kDeepSeekLlm ? synthetic_tokenizer_data::kDeepSeekLlmPreTokenizer
                                                              : synthetic_tokenizer_data::kDeepSeekV3PreTokenizer;
  return nlohmann::json::parse(text);
}

ojson BuildSyntheticTokenizer(const SyntheticTokenizerSpec& spec) {
  std::vector<SpecialTokenSpec> specials = spec.specials;
  std::sort(specials.begin(), specials.end(),
            [](const SpecialTokenSpec& x, const SpecialTokenSpec& y) { return x.id < y.id; });
  std::set<int64_t> special_ids;
  std::set<std::string> special_names;
  int64_t specials_in_vocab = 0;
  for (const auto& s : specials) {
    if (s.id < 0 || s.content.empty() || !special_ids.insert(s.id).second || !special_names.insert(s.content).second) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{"synthetic tokenizer", "special token '" + s.content + "'",
                         "a unique non-empty token at a unique id >= 0", "id " + std::to_string(s.id), ""});
    }
    if (s.id < spec.model_vocab_end) ++specials_in_vocab;
  }
  const int64_t free_ids = spec.model_vocab_end - specials_in_vocab;
  if (free_ids < kByteTokens) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"synthetic tokenizer", "model_vocab_end", "room for the 256 byte tokens",
                       std::to_string(spec.model_vocab_end) + " ids, " + std::to_string(specials_in_vocab) +
                           " of them special",
                       ""});
  }

  // Byte tokens in alphabet (code point) order, as in the real files ("!" first).
  std::vector<std::string> bpe_tokens;
  std::vector<uint8_t> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[static_cast<size_t>(b)] = static_cast<uint8_t>(b);
  std::sort(bytes.begin(), bytes.end(),
            [](uint8_t x, uint8_t y) { return text::ByteToCodePoint(x) < text::ByteToCodePoint(y); });
  for (uint8_t b : bytes) bpe_tokens.push_back(ByteToken(b));

  const auto merges = TrainMerges(spec.style, static_cast<size_t>(free_ids - kByteTokens));
  std::set<std::string> known(bpe_tokens.begin(), bpe_tokens.end());
  ojson merge_list = ojson::array();
  for (const auto& [l, r] : merges) {
    merge_list.push_back(l + " " + r);
    if (known.insert(l + r).second) bpe_tokens.push_back(l + r);
  }

  // Model vocabulary: ids from 0, specials in range keep their ids, BPE tokens fill the rest (if
  // the sample ran out of merges, the top ids stay unused).
  ojson vocab = ojson::object();
  std::map<int64_t, const SpecialTokenSpec*> special_by_id;
  for (const auto& s : specials) special_by_id[s.id] = &s;
  size_t next_token = 0;
  for (int64_t id = 0; id < spec.model_vocab_end; ++id) {
    if (auto it = special_by_id.find(id); it != special_by_id.end()) {
      vocab[it->second->content] = id;
    } else if (next_token < bpe_tokens.size()) {
      vocab[bpe_tokens[next_token++]] = id;
    }
  }

  ojson added = ojson::array();
  for (const auto& s : specials) added.push_back(AddedTokenJson(s));

  ojson pre = RealPreTokenizerJson(spec.style);
  ojson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = false;
  model["vocab"] = std::move(vocab);
  model["merges"] = std::move(merge_list);

  ojson tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  tok["added_tokens"] = std::move(added);
  // DeepSeek-V3 writes an empty normalizer Sequence, DeepSeek-LLM none: same behaviour.
  if (spec.style == PreTokenizerStyle::kDeepSeekV3) {
    tok["normalizer"] = ojson{{"type", "Sequence"}, {"normalizers", ojson::array()}};
  } else {
    tok["normalizer"] = nullptr;
  }
  tok["pre_tokenizer"] = std::move(pre);
  tok["post_processor"] = ByteLevelStep(true, false, true);
  tok["decoder"] = ByteLevelStep(true, true, true);
  tok["model"] = std::move(model);
  return tok;
}

namespace {

template <typename Json>
int64_t MaxTokenIdImpl(const Json& tokenizer) {
  int64_t max_id = -1;
  if (tokenizer.contains("model") && tokenizer["model"].contains("vocab") && tokenizer["model"]["vocab"].is_object()) {
    for (const auto& [k, v] : tokenizer["model"]["vocab"].items())
      if (v.is_number_integer()) max_id = std::max(max_id, v.template get<int64_t>());
  }
  if (tokenizer.contains("added_tokens") && tokenizer["added_tokens"].is_array()) {
    for (const auto& t : tokenizer["added_tokens"])
      if (t.contains("id") && t["id"].is_number_integer()) max_id = std::max(max_id, t["id"].template get<int64_t>());
  }
  return max_id;
}

}  // namespace

int64_t MaxTokenId(const nlohmann::json& tokenizer) { return MaxTokenIdImpl(tokenizer); }
int64_t MaxTokenId(const ojson& tokenizer) { return MaxTokenIdImpl(tokenizer); }

void AddSpecialTokens(nlohmann::json& tokenizer, const std::vector<SpecialTokenSpec>& specials,
                      const std::string& where) {
  if (!tokenizer.is_object() || !tokenizer.contains("model") || !tokenizer["model"].is_object() ||
      !tokenizer["model"].contains("vocab") || !tokenizer["model"]["vocab"].is_object()) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, "model.vocab", "an object (a BPE tokenizer.json)", "missing", ""});
  }
  if (!tokenizer.contains("added_tokens") || tokenizer["added_tokens"].is_null()) tokenizer["added_tokens"] = nlohmann::json::array();
  nlohmann::json& added = tokenizer["added_tokens"];
  if (!added.is_array()) Throw(ErrorCode::kCorruptData, ErrorContext{where, "added_tokens", "array", added.type_name(), ""});

  // Every id in use and which token holds it.
  std::map<int64_t, std::string> by_id;
  std::map<std::string, int64_t> added_by_name;
  for (const auto& [k, v] : tokenizer["model"]["vocab"].items())
    if (v.is_number_integer()) by_id[v.get<int64_t>()] = k;
  for (const auto& t : added) {
    if (!t.is_object() || !t.contains("id") || !t.contains("content")) continue;
    by_id[t["id"].get<int64_t>()] = t["content"].get<std::string>();
    added_by_name[t["content"].get<std::string>()] = t["id"].get<int64_t>();
  }
  const nlohmann::json& vocab = tokenizer["model"]["vocab"];
  for (const auto& s : specials) {
    int64_t existing = -1;
    if (auto it = added_by_name.find(s.content); it != added_by_name.end()) existing = it->second;
    else if (vocab.contains(s.content)) existing = vocab[s.content].get<int64_t>();
    if (existing == s.id) {
      for (auto& t : added)
        if (t.is_object() && t.value("content", "") == s.content) t["special"] = true;
      if (!added_by_name.count(s.content)) added.push_back(nlohmann::json(AddedTokenJson(s)));
      continue;
    }
    if (existing >= 0) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{where, "token '" + s.content + "'", "id " + std::to_string(s.id) + " (the model's id)",
                         "id " + std::to_string(existing), "this tokenizer does not belong to this model family"});
    }
    if (auto it = by_id.find(s.id); it != by_id.end()) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{where, "id " + std::to_string(s.id), "free for '" + s.content + "'",
                         "taken by '" + it->second + "'", "this tokenizer does not belong to this model family"});
    }
    added.push_back(nlohmann::json(AddedTokenJson(s)));
    by_id[s.id] = s.content;
    added_by_name[s.content] = s.id;
  }
}

}  // namespace dsvl
