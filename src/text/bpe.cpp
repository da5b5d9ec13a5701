#include "text/bpe.h"

#include <algorithm>
#include <queue>

#include <nlohmann/json.hpp>

#include "dsvl/error.h"
#include "text/json_util.h"
#include "text/utf8.h"

namespace dsvl::text {
namespace {

// Words up to this many symbols use a plain scan for the best pair (cache friendly, no heap); longer
// ones (long CJK runs, base64 blobs) use a priority queue so the cost stays O(n log n).
constexpr size_t kSmallWord = 48;

bool IsNullOrAbsent(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null();
}

}  // namespace

bool SplitMergeString(const std::string& s, std::pair<std::string, std::string>& out) {
  // "a b": exactly one separating space, as HF requires.
  size_t sp = s.find(' ');
  if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) return false;
  out.first.assign(s, 0, sp);
  out.second.assign(s, sp + 1);
  return true;
}

void ReadRawTables(const nlohmann::json& model, const std::string& where, RawBpeTables& raw) {
  const auto& vocab = GetObject(model, "vocab", where, "model");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!IsVocabId(*it)) {
      raw.error_field = "model.vocab[\"" + it.key() + "\"]";
      raw.error_detail = "expected a non-negative integer id, got " + it->dump();
      return;
    }
    raw.vocab.emplace_back(it.key(), it->get<int64_t>());
  }
  const auto& merges = GetArray(model, "merges", where, "model");
  for (size_t i = 0; i < merges.size(); ++i) {
    std::pair<std::string, std::string> m;
    if (!ParseMerge(merges[i], m)) {
      raw.error_field = "model.merges[" + std::to_string(i) + "]";
      raw.error_detail = "expected \"left right\" or [left, right], got " + merges[i].dump();
      return;
    }
    raw.merges.push_back(std::move(m));
  }
}

bool IsVocabId(const nlohmann::json& v) {
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
}

bool ParseMerge(const nlohmann::json& m, std::pair<std::string, std::string>& out) {
  if (m.is_string()) return SplitMergeString(m.get_ref<const std::string&>(), out);
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    out.first = m[0].get<std::string>();
    out.second = m[1].get<std::string>();
    return true;
  }
  return false;
}

std::unique_ptr<BpeModel> BpeModel::FromJson(const nlohmann::json& model, const std::string& where,
                                             RawBpeTables* raw) {
  if (!model.is_object()) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, "model", "object", model.type_name(), ""});
  }
  std::string type = model.contains("type") ? GetString(model, "type", where, "model") : "BPE";
  if (type != "BPE") {
    Throw(ErrorCode::kUnsupported, ErrorContext{where, "model.type", "BPE", type, ""});
  }
  if (!IsNullOrAbsent(model, "dropout") && model["dropout"].get<double>() != 0.0) {
    Throw(ErrorCode::kUnsupported, ErrorContext{where, "model.dropout", "null", model["dropout"].dump(), ""});
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!IsNullOrAbsent(model, key) && !(model[key].is_string() && model[key].get<std::string>().empty())) {
      Throw(ErrorCode::kUnsupported, ErrorContext{where, std::string("model.") + key, "null", model[key].dump(), ""});
    }
  }
  if (GetBool(model, "byte_fallback", where, "model", false)) {
    Throw(ErrorCode::kUnsupported, ErrorContext{where, "model.byte_fallback", "false", "true", ""});
  }

  auto bpe = std::make_unique<BpeModel>();
  bpe->ignore_merges_ = GetBool(model, "ignore_merges", where, "model", false);
  bpe->fuse_unk_ = GetBool(model, "fuse_unk", where, "model", false);

  // Both must exist even when the loader has already moved their entries into `raw`.
  GetObject(model, "vocab", where, "model");
  GetArray(model, "merges", where, "model");
  RawBpeTables own;
  if (raw == nullptr) {
    ReadRawTables(model, where, own);
    raw = &own;
  }
  if (!raw->error_field.empty()) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, raw->error_field, "", "", raw->error_detail});
  }
  int64_t max_id = -1;
  for (const auto& entry : raw->vocab) max_id = std::max(max_id, entry.second);
  bpe->id_to_token_.resize(static_cast<size_t>(max_id + 1));
  bpe->has_id_.assign(static_cast<size_t>(max_id + 1), false);
  bpe->vocab_.Reserve(raw->vocab.size());
  for (auto& [token, id] : raw->vocab) {
    if (bpe->vocab_.Find(token, bpe->id_to_token_) >= 0) continue;  // repeated key: the first one counts
    if (bpe->has_id_[id]) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "model.vocab", "unique ids",
                                                  "id " + std::to_string(id) + " used twice", ""});
    }
    bpe->id_to_token_[id] = std::move(token);
    bpe->has_id_[id] = true;
    bpe->vocab_.Insert(static_cast<int32_t>(id), bpe->id_to_token_);
  }
  raw->vocab.clear();
  bpe->small_char_id_.fill(-1);
  for (uint32_t cp = 0; cp < bpe->small_char_id_.size(); ++cp) {
    std::string s;
    AppendCodePoint(cp, s);
    bpe->small_char_id_[cp] = bpe->TokenToId(s);
  }

  if (!IsNullOrAbsent(model, "unk_token")) {
    std::string unk = GetString(model, "unk_token", where, "model");
    bpe->unk_id_ = bpe->TokenToId(unk);
    if (bpe->unk_id_ < 0) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "model.unk_token", "a token of model.vocab", unk, ""});
    }
  }

  bpe->merges_.Reserve(raw->merges.size());
  std::string merged;
  for (size_t i = 0; i < raw->merges.size(); ++i) {
    const auto& [left, right] = raw->merges[i];
    merged.assign(left);
    merged += right;
    int32_t a = bpe->TokenToId(left), b = bpe->TokenToId(right), c = bpe->TokenToId(merged);
    if (a < 0 || b < 0 || c < 0) {
      const std::string& bad = a < 0 ? left : b < 0 ? right : merged;
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "model.merges[" + std::to_string(i) + "]",
                                                  c < 0 && a >= 0 && b >= 0 ? "merged token in model.vocab"
                                                                            : "tokens of model.vocab",
                                                  "unknown token \"" + bad + "\"", ""});
    }
    // Later duplicates overwrite earlier ones, as when HF collects the merges into a map.
    bpe->merges_.InsertOrAssign(a, b, BpeMerge{static_cast<int32_t>(i), c});
  }
  return bpe;
}

int32_t BpeModel::TokenToId(std::string_view token) const {
  return vocab_.Find(token, id_to_token_);
}

const std::string* BpeModel::IdToToken(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(id_to_token_.size()) || !has_id_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::SplitChars(std::string_view word, std::vector<int32_t>& symbols) const {
  int32_t pending_unk = -1;  // HF emits unknown characters lazily so fuse_unk can extend them
  for (size_t i = 0; i < word.size();) {
    size_t len = ValidSequenceLength(word, i);
    if (len == 0) len = 1;  // cannot happen for valid input; never loop forever
    int32_t id;
    if (len <= 2) {
      uint32_t cp = DecodeCodePoint(word, i, len);
      id = cp < small_char_id_.size() ? small_char_id_[cp] : TokenToId(word.substr(i, len));
    } else {
      id = TokenToId(word.substr(i, len));
    }
    i += len;
    if (id >= 0) {
      if (pending_unk >= 0) symbols.push_back(pending_unk);
      pending_unk = -1;
      symbols.push_back(id);
    } else if (unk_id_ >= 0) {
      if (pending_unk >= 0 && !fuse_unk_) symbols.push_back(pending_unk);
      pending_unk = unk_id_;
    }
  }
  if (pending_unk >= 0) symbols.push_back(pending_unk);
}

void BpeModel::Tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    int32_t id = TokenToId(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  SplitChars(word, symbols);
  if (symbols.size() <= kSmallWord) {
    MergeSmall(symbols);
  } else {
    MergeLarge(symbols);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

// Repeatedly merges the lowest-ranked adjacent pair, leftmost first on ties (what HF's queue
// ordering by (rank, position) amounts to).
void BpeModel::MergeSmall(std::vector<int32_t>& symbols) const {
  int32_t ranks[kSmallWord];
  int32_t ids[kSmallWord];
  size_t n = symbols.size();
  auto fill = [&](size_t i) {
    const BpeMerge* m = FindMerge(symbols[i], symbols[i + 1]);
    ranks[i] = m ? m->rank : INT32_MAX;
    ids[i] = m ? m->new_id : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) fill(i);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (ranks[i] < ranks[best]) best = i;
    }
    if (ranks[best] == INT32_MAX) break;
    symbols[best] = ids[best];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    std::copy(ranks + best + 1, ranks + n - 1, ranks + best);
    std::copy(ids + best + 1, ids + n - 1, ids + best);
    --n;
    if (best > 0) fill(best - 1);
    if (best + 1 < n) fill(best);
  }
}

void BpeModel::MergeLarge(std::vector<int32_t>& symbols) const {
  struct Cand {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const auto n = static_cast<int32_t>(symbols.size());
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> queue;
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] < 0) return;
    if (const BpeMerge* m = FindMerge(symbols[i], symbols[next[i]])) queue.push({m->rank, i, m->new_id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    Cand c = queue.top();
    queue.pop();
    // Stale entries: the left symbol was absorbed, or its right neighbour changed since the push.
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    int32_t r = next[c.pos];
    const BpeMerge* m = FindMerge(symbols[c.pos], symbols[r]);
    if (m == nullptr || m->new_id != c.new_id) continue;
    symbols[c.pos] = c.new_id;
    alive[r] = false;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t w = 0;
  for (int32_t i = 0; i >= 0 && i < n; i = next[i]) symbols[w++] = symbols[i];
  symbols.resize(w);
}

}  // namespace dsvl::text
