// Encode / decode on top of the loaded components (loading is in tokenizer_load.cpp).
#include "text/tokenizer.h"

#include <mutex>

#include "dsvl/error.h"
#include "text/added_vocab.h"
#include "text/bpe.h"
#include "text/byte_level.h"
#include "text/pre_tokenizer.h"
#include "text/utf8.h"
#include "text/word_cache.h"

namespace dsvl {

Tokenizer::Tokenizer() : added_(std::make_unique<text::AddedVocab>()), cache_(std::make_unique<WordCache>()) {}
Tokenizer::~Tokenizer() = default;

std::vector<int64_t> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  if (!text::IsValidUtf8(text)) {
    Throw(ErrorCode::kInvalidArgument, "Tokenizer::Encode: text is not valid UTF-8");
  }
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_special_tokens && add_bos_ && bos_id_ >= 0) ids.push_back(bos_id_);

  thread_local std::vector<text::AddedVocab::Piece> pieces;
  thread_local std::vector<std::string_view> words;
  thread_local std::string scratch;
  pieces.clear();
  added_->Split(text, pieces);
  for (const auto& piece : pieces) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    words.clear();
    pre_->Split(piece.text, scratch, words);  // words may view scratch: use them before the next Split
    for (std::string_view w : words) EncodeWord(w, ids);
  }
  if (add_special_tokens && add_eos_ && eos_id_ >= 0) ids.push_back(eos_id_);
  return ids;
}

void Tokenizer::EncodeWord(std::string_view word, std::vector<int64_t>& ids) const {
  if (cache_->Lookup(word, ids)) return;
  thread_local std::string mapped;
  thread_local std::vector<int32_t> word_ids;
  word_ids.clear();
  if (pre_->byte_level()) {
    mapped.clear();
    text::AppendByteLevel(word, mapped);
    bpe_->Tokenize(mapped, word_ids);
  } else {
    bpe_->Tokenize(word, word_ids);
  }
  ids.insert(ids.end(), word_ids.begin(), word_ids.end());
  cache_->Insert(word, word_ids);
}

bool Tokenizer::AppendTokenBytes(int64_t id, bool skip_special_tokens, bool first, std::string& bytes) const {
  const std::string* token = nullptr;
  if (const text::AddedToken* added = added_->FindId(id)) {
    if (skip_special_tokens && added->special) return false;
    token = &added->content;
  } else {
    token = bpe_->IdToToken(id);
    if (token == nullptr) return false;
  }
  if (byte_level_decoder_) {
    text::AppendByteLevelDecoded(*token, bytes);
  } else {
    if (!first) bytes += ' ';
    bytes += *token;
  }
  return true;
}

std::string Tokenizer::Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  bool first = true;
  for (int64_t id : ids) {
    if (AppendTokenBytes(id, skip_special_tokens, first, bytes)) first = false;
  }
  std::string out;
  out.reserve(bytes.size());
  text::AppendUtf8Lossy(bytes, out);
  return out;
}

int64_t Tokenizer::TokenToId(std::string_view token) const {
  if (const text::AddedToken* added = added_->Find(token)) return added->id;
  return bpe_->TokenToId(token);
}

std::string Tokenizer::IdToToken(int64_t id) const {
  if (const text::AddedToken* added = added_->FindId(id)) return added->content;
  if (const std::string* token = bpe_->IdToToken(id)) return *token;
  Throw(ErrorCode::kInvalidArgument, ErrorContext{"Tokenizer::IdToToken", "id",
                                                  "0.." + std::to_string(vocab_size() - 1) + " (a known id)",
                                                  std::to_string(id), ""});
}

int64_t Tokenizer::vocab_size() const { return std::max(bpe_->max_id(), added_->max_id()) + 1; }

bool Tokenizer::IsSpecial(int64_t id) const {
  const text::AddedToken* added = added_->FindId(id);
  return added != nullptr && added->special;
}

int64_t Tokenizer::AddSpecialToken(const std::string& token) {
  if (token.empty()) Throw(ErrorCode::kInvalidArgument, "Tokenizer::AddSpecialToken: empty token");
  text::AddedToken t;
  t.content = token;
  t.special = true;
  if (const text::AddedToken* existing = added_->Find(token)) {
    if (existing->special) return existing->id;
    t = *existing;
    t.special = true;
  } else if (int32_t id = bpe_->TokenToId(token); id >= 0) {
    t.id = id;
  } else {
    t.id = std::max(added_->max_id() + 1, bpe_->max_id() + 1);
  }
  added_->Add(t);
  return t.id;
}

std::string StreamDecoder::Push(int64_t id) {
  if (tokenizer_.AppendTokenBytes(id, skip_special_, first_, pending_)) first_ = false;
  size_t keep = text::IncompleteTailLength(pending_);
  std::string out;
  text::AppendUtf8Lossy(std::string_view(pending_).substr(0, pending_.size() - keep), out);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  text::AppendUtf8Lossy(pending_, out);
  pending_.clear();
  return out;
}

}  // namespace dsvl
