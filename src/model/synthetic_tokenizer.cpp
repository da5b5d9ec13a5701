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
std::vector<std::pair<std::string, std::string>> TrainMerges(PreTokenizerStyle style,
                                                             size_t max_merges) {
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

nlohmann::json AddedTokenJson(const SpecialTokenSpec& s) {
  nlohmann::json t;
  t["id"] = s.id;
  t["content"] = s.content;
  t["single_word"] = false;
  t["lstrip"] = false;
  t["rstrip"] = false;
  t["normalized"] = !s.special;
  t["special"] = s.special;
  return t;
}

nlohmann::json ByteLevelStep(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  nlohmann::json j;
  j["type"] = "ByteLevel";
  j["add_prefix_space"] = add_prefix_space;
  j["trim_offsets"] = trim_offsets;
  j["use_regex"] = use_regex;
  return j;
}

// DeepSeek-V3's name for its reserved added tokens; used for unassigned ids below a special's id.
std::string PlaceHolder(int64_t k) { return "<｜place▁holder▁no▁" + std::to_string(k) + "｜>"; }

}  // namespace

nlohmann::json RealPreTokenizerJson(PreTokenizerStyle style) {
  const char* text = style == PreTokenizerStyle::kDeepSeekLlm
                         ? synthetic_tokenizer_data::kDeepSeekLlmPreTokenizer
                         : synthetic_tokenizer_data::kDeepSeekV3PreTokenizer;
  return nlohmann::json::parse(text);
}

nlohmann::json BuildSyntheticTokenizer(const SyntheticTokenizerSpec& spec) {
  std::vector<SpecialTokenSpec> specials = spec.specials;
  std::sort(specials.begin(), specials.end(),
            [](const SpecialTokenSpec& x, const SpecialTokenSpec& y) { return x.id < y.id; });
  std::set<int64_t> special_ids;
  std::set<std::string> special_names;
  int64_t specials_in_vocab = 0;
  for (const auto& s : specials) {
    if (s.id < 0 || s.content.empty() || !special_ids.insert(s.id).second ||
        !special_names.insert(s.content).second) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{"synthetic tokenizer", "added token '" + s.content + "'",
                         "a unique non-empty token at a unique id >= 0",
                         "id " + std::to_string(s.id), ""});
    }
    if (s.id < spec.model_vocab_end) ++specials_in_vocab;
  }
  const int64_t free_ids = spec.model_vocab_end - specials_in_vocab;
  if (free_ids < kByteTokens) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"synthetic tokenizer", "model_vocab_end", "room for the 256 byte tokens",
                       std::to_string(spec.model_vocab_end) + " ids, " +
                           std::to_string(specials_in_vocab) + " of them special",
                       ""});
  }

  // Byte tokens in alphabet (code point) order, as in the real files ("!" first).
  std::vector<std::string> bpe_tokens;
  std::vector<uint8_t> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[static_cast<size_t>(b)] = static_cast<uint8_t>(b);
  std::sort(bytes.begin(), bytes.end(), [](uint8_t x, uint8_t y) {
    return text::ByteToCodePoint(x) < text::ByteToCodePoint(y);
  });
  for (uint8_t b : bytes) {
    // DeepSeek-LLM's vocabulary has no token for the 13 bytes that never occur in UTF-8 (C0, C1,
    // F5-FF); its added tokens 100002-100014 are those bytes' alphabet characters instead.
    const bool never_utf8 = b == 0xC0 || b == 0xC1 || b >= 0xF5;
    if (spec.style == PreTokenizerStyle::kDeepSeekLlm && never_utf8) continue;
    bpe_tokens.push_back(ByteToken(b));
  }
  const int64_t byte_tokens = static_cast<int64_t>(bpe_tokens.size());

  const size_t max_merges =
      std::min(static_cast<size_t>(free_ids - byte_tokens), static_cast<size_t>(spec.max_merges));
  const auto merges = TrainMerges(spec.style, max_merges);
  std::set<std::string> known(bpe_tokens.begin(), bpe_tokens.end());
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& [l, r] : merges) {
    merge_list.push_back(l + " " + r);
    if (known.insert(l + r).second) bpe_tokens.push_back(l + r);
  }

  // Model vocabulary: every id in [0, model_vocab_end), because Hugging Face numbers added tokens
  // that are not in the vocabulary from its *size* on, ignoring their "id". Specials in range keep
  // their ids (DeepSeek-V3 has BOS/EOS/pad at 0/1/2), BPE tokens fill the rest, and fillers that no
  // merge produces (so never emitted) pad it when the merges run out.
  nlohmann::json vocab = nlohmann::json::object();
  std::map<int64_t, const SpecialTokenSpec*> special_by_id;
  for (const auto& s : specials) special_by_id[s.id] = &s;
  size_t next_token = 0;
  for (int64_t id = 0; id < spec.model_vocab_end; ++id) {
    if (auto it = special_by_id.find(id); it != special_by_id.end()) {
      vocab[it->second->content] = id;
    } else if (next_token < bpe_tokens.size()) {
      vocab[bpe_tokens[next_token++]] = id;
    } else {
      vocab["<unused_" + std::to_string(id) + ">"] = id;
    }
  }

  // Added tokens: the specials and, for the same numbering reason, a reserved token at every id
  // between the vocabulary and the last special (DeepSeek-V3 has 815 such place holders).
  nlohmann::json added = nlohmann::json::array();
  int64_t next_place_holder = 0;
  int64_t next_id = 0;
  for (const auto& s : specials) {
    for (int64_t id = std::max(next_id, spec.model_vocab_end); id < s.id; ++id) {
      added.push_back(AddedTokenJson({PlaceHolder(next_place_holder++), id, true}));
    }
    added.push_back(AddedTokenJson(s));
    next_id = s.id + 1;
  }

  nlohmann::json model;
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

  nlohmann::json tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  tok["added_tokens"] = std::move(added);
  // DeepSeek-V3 writes an empty normalizer Sequence, DeepSeek-LLM none: same behaviour.
  if (spec.style == PreTokenizerStyle::kDeepSeekV3) {
    tok["normalizer"] = {{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}};
  } else {
    tok["normalizer"] = nullptr;
  }
  tok["pre_tokenizer"] = RealPreTokenizerJson(spec.style);
  tok["post_processor"] = ByteLevelStep(true, false, true);
  tok["decoder"] = ByteLevelStep(true, true, true);
  tok["model"] = std::move(model);
  return tok;
}

namespace {

template <typename Json>
int64_t MaxTokenIdImpl(const Json& tokenizer) {
  int64_t max_id = -1;
  if (tokenizer.contains("model") && tokenizer["model"].contains("vocab") &&
      tokenizer["model"]["vocab"].is_object()) {
    for (const auto& [k, v] : tokenizer["model"]["vocab"].items())
      if (v.is_number_integer()) max_id = std::max(max_id, v.template get<int64_t>());
  }
  if (tokenizer.contains("added_tokens") && tokenizer["added_tokens"].is_array()) {
    for (const auto& t : tokenizer["added_tokens"])
      if (t.contains("id") && t["id"].is_number_integer())
        max_id = std::max(max_id, t["id"].template get<int64_t>());
  }
  return max_id;
}

}  // namespace

int64_t MaxTokenId(const nlohmann::json& tokenizer) { return MaxTokenIdImpl(tokenizer); }

void AddSpecialTokens(nlohmann::json& tokenizer, const std::vector<SpecialTokenSpec>& specials,
                      const std::string& where) {
  if (!tokenizer.is_object() || !tokenizer.contains("model") || !tokenizer["model"].is_object() ||
      !tokenizer["model"].contains("vocab") || !tokenizer["model"]["vocab"].is_object()) {
    Throw(ErrorCode::kCorruptData,
          ErrorContext{where, "model.vocab", "an object (a BPE tokenizer.json)", "missing", ""});
  }
  if (!tokenizer.contains("added_tokens") || tokenizer["added_tokens"].is_null())
    tokenizer["added_tokens"] = nlohmann::json::array();
  nlohmann::json& added = tokenizer["added_tokens"];
  if (!added.is_array())
    Throw(ErrorCode::kCorruptData,
          ErrorContext{where, "added_tokens", "array", added.type_name(), ""});

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
  int64_t max_id = by_id.empty() ? -1 : by_id.rbegin()->first;
  std::vector<SpecialTokenSpec> sorted = specials;
  std::sort(sorted.begin(), sorted.end(),
            [](const SpecialTokenSpec& x, const SpecialTokenSpec& y) { return x.id < y.id; });
  for (const auto& s : sorted) {
    int64_t existing = -1;
    if (auto it = added_by_name.find(s.content); it != added_by_name.end())
      existing = it->second;
    else if (vocab.contains(s.content))
      existing = vocab[s.content].get<int64_t>();
    if (existing == s.id) {
      for (auto& t : added)
        if (t.is_object() && t.value("content", "") == s.content) t["special"] = true;
      if (!added_by_name.count(s.content)) added.push_back(AddedTokenJson(s));
      continue;
    }
    if (existing >= 0) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{where, "token '" + s.content + "'",
                         "id " + std::to_string(s.id) + " (the model's id)",
                         "id " + std::to_string(existing),
                         "this tokenizer does not belong to this model family"});
    }
    if (auto it = by_id.find(s.id); it != by_id.end()) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{where, "id " + std::to_string(s.id), "free for '" + s.content + "'",
                         "taken by '" + it->second + "'",
                         "this tokenizer does not belong to this model family"});
    }
    // Hugging Face numbers a new added token after the largest id, whatever its "id" says: a gap
    // would make it disagree with the model (and with dsvl, which honours the id).
    if (s.id != max_id + 1) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{where, "token '" + s.content + "'",
                         "the next free id " + std::to_string(max_id + 1),
                         "id " + std::to_string(s.id),
                         "the tokenizer's ids end at " + std::to_string(max_id) +
                             "; this tokenizer does not belong to this model family"});
    }
    added.push_back(AddedTokenJson(s));
    by_id[s.id] = s.content;
    added_by_name[s.content] = s.id;
    max_id = s.id;
  }
}

}  // namespace dsvl
