#include "text/word_cache.h"

#include <cstring>

#include "text/string_hash.h"

namespace dsvl {
namespace {

constexpr size_t kInitialSlots = 4096;

}  // namespace

Tokenizer::WordCache::WordCache() { Clear(); }

size_t Tokenizer::WordCache::Find(std::string_view word, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key_len == 0) return i;
    if (s.hash == hash && s.key_len == word.size() && std::memcmp(keys_.data() + s.key_at, word.data(), word.size()) == 0) {
      return i;
    }
  }
}

bool Tokenizer::WordCache::Lookup(std::string_view word, std::vector<int64_t>& ids) {
  if (word.empty() || word.size() > kMaxWordBytes) return false;
  const uint64_t hash = text::HashBytes(word);
  std::lock_guard<std::mutex> lock(mutex_);
  const Slot& s = slots_[Find(word, hash)];
  if (s.key_len == 0) return false;
  ids.insert(ids.end(), ids_.begin() + s.ids_at, ids_.begin() + s.ids_at + s.ids_len);
  return true;
}

void Tokenizer::WordCache::Insert(std::string_view word, const std::vector<int32_t>& ids) {
  if (word.empty() || word.size() > kMaxWordBytes || ids.size() > UINT16_MAX) return;
  const uint64_t hash = text::HashBytes(word);
  std::lock_guard<std::mutex> lock(mutex_);
  if (count_ >= kMaxEntries || keys_.size() + ids_.size() * sizeof(int32_t) > kMaxArenaBytes) Clear();
  if ((count_ + 1) * 2 > slots_.size()) Grow();
  Slot& s = slots_[Find(word, hash)];
  if (s.key_len != 0) return;  // another thread cached it first
  s = Slot{hash, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(ids_.size()),
           static_cast<uint16_t>(word.size()), static_cast<uint16_t>(ids.size())};
  keys_.append(word);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++count_;
}

void Tokenizer::WordCache::Grow() {
  std::vector<Slot> old(slots_.size() * 2, Slot{});
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.key_len == 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].key_len != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void Tokenizer::WordCache::Clear() {
  slots_.assign(kInitialSlots, Slot{});
  keys_.clear();
  ids_.clear();
  count_ = 0;
}

}  // namespace dsvl
