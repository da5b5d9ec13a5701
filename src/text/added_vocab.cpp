#include "text/added_vocab.h"

#include <algorithm>

#include "text/utf8.h"

namespace dsvl::text {
namespace {

// Rust char::is_whitespace (Unicode White_Space), which HF uses for lstrip/rstrip.
bool IsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// Word characters for single_word. HF uses char::is_alphanumeric; here ASCII letters/digits exactly
// and, as an approximation, every non-ASCII non-whitespace character (no Unicode tables needed; the
// shipped DeepSeek tokenizers have no single_word tokens).
bool IsWordChar(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return !IsWhitespace(cp);
}

// Code point ending at byte offset `end` of s (s[..end] is valid UTF-8).
uint32_t LastCodePoint(std::string_view s, size_t end, size_t* len_out) {
  size_t i = end;
  do {
    --i;
  } while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80);
  *len_out = end - i;
  return DecodeCodePoint(s, i, end - i);
}

uint32_t FirstCodePoint(std::string_view s, size_t begin, size_t* len_out) {
  size_t len = ValidSequenceLength(s, begin);
  if (len == 0) len = 1;
  *len_out = len;
  return DecodeCodePoint(s, begin, len);
}

}  // namespace

void AddedVocab::Trie::Insert(std::string_view s, int32_t index) {
  int32_t node = 0;
  for (char ch : s) {
    auto c = static_cast<uint8_t>(ch);
    auto it = edges[node].find(c);
    if (it == edges[node].end()) {
      edges.emplace_back();
      token.push_back(-1);
      int32_t child = static_cast<int32_t>(edges.size()) - 1;
      edges[node].emplace(c, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  token[node] = index;
  first_byte[static_cast<uint8_t>(s[0])] = true;
}

int32_t AddedVocab::Trie::LongestAt(std::string_view text, size_t pos, size_t& len) const {
  int32_t node = 0, best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto& e = edges[node];
    auto it = e.find(static_cast<uint8_t>(text[i]));
    if (it == e.end()) break;
    node = it->second;
    if (token[node] >= 0) {
      best = token[node];
      len = i + 1 - pos;
    }
  }
  return best;
}

void AddedVocab::Add(const AddedToken& token) {
  if (token.content.empty()) return;  // HF ignores empty added tokens
  auto it = by_content_.find(token.content);
  if (it != by_content_.end()) {
    AddedToken& old = tokens_[it->second];
    bool moved = old.normalized != token.normalized;
    by_id_.erase(old.id);
    old = token;
    by_id_[token.id] = it->second;
    if (moved) Rebuild();  // it belongs to the other pass now
  } else {
    auto index = static_cast<int32_t>(tokens_.size());
    by_content_.emplace(token.content, tokens_.size());
    by_id_[token.id] = tokens_.size();
    tokens_.push_back(token);
    (token.normalized ? normalized_trie_ : raw_trie_).Insert(token.content, index);
  }
  max_id_ = std::max(max_id_, token.id);
}

void AddedVocab::Rebuild() {
  raw_trie_ = Trie();
  normalized_trie_ = Trie();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    (tokens_[i].normalized ? normalized_trie_ : raw_trie_).Insert(tokens_[i].content, static_cast<int32_t>(i));
  }
}

const AddedToken* AddedVocab::Find(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocab::FindId(int64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

void AddedVocab::Split(std::string_view text, std::vector<Piece>& out) const {
  if (tokens_.empty()) {
    out.push_back({text, -1});
    return;
  }
  // Pass 1 on the raw text; pass 2 (normalized tokens) on what pass 1 left as plain text. The
  // normalizer is the identity for every supported tokenizer.json, so pass 2 runs on the same bytes.
  thread_local std::vector<Piece> first;
  first.clear();
  SplitPass(raw_trie_, text, first);
  for (const Piece& p : first) {
    if (p.id >= 0) {
      out.push_back(p);
    } else {
      SplitPass(normalized_trie_, p.text, out);
    }
  }
}

void AddedVocab::SplitPass(const Trie& trie, std::string_view text, std::vector<Piece>& out) const {
  size_t emitted = 0;  // end of the last piece pushed
  size_t pos = 0;
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t len = 0;
    int32_t index = trie.LongestAt(text, pos, len);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[index];
    size_t start = pos, stop = pos + len;
    if (tok.single_word) {
      size_t n;
      bool start_ok = start == 0 || !IsWordChar(LastCodePoint(text, start, &n));
      bool stop_ok = stop == text.size() || !IsWordChar(FirstCodePoint(text, stop, &n));
      if (!start_ok || !stop_ok) {
        pos = stop;  // the match is consumed, as in a non-overlapping match iterator
        continue;
      }
    }
    if (tok.lstrip) {
      size_t n;
      while (start > emitted && IsWhitespace(LastCodePoint(text, start, &n))) start -= n;
    }
    if (tok.rstrip) {
      size_t n;
      while (stop < text.size() && IsWhitespace(FirstCodePoint(text, stop, &n))) stop += n;
    }
    if (start > emitted) out.push_back({text.substr(emitted, start - emitted), -1});
    out.push_back({text.substr(start, stop - start), tok.id});
    emitted = stop;
    pos = stop;
  }
  if (emitted < text.size()) out.push_back({text.substr(emitted), -1});
}

}  // namespace dsvl::text
