// Pre-token → ids cache shared by all Encode calls of one Tokenizer. Real text repeats the same
// words constantly, so most pre-tokens skip BPE entirely; this is what makes encoding fast.
// Open addressing over flat arrays (one probe sequence, no per-entry allocation): a lookup costs a
// hash, usually one slot compare and one memcmp.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace dsvl {

struct Tokenizer::WordCache {
  // Long pre-tokens are rare and unlikely to repeat; bounding the key size and the entry count keeps
  // memory bounded on adversarial input (the cache is simply dropped when full).
  static constexpr size_t kMaxWordBytes = 256;
  static constexpr size_t kMaxEntries = 1 << 18;
  static constexpr size_t kMaxArenaBytes = 32 << 20;  // keys and ids together

  WordCache();
  // Appends the cached ids of `word` and returns true, or returns false if it is not cached.
  bool Lookup(std::string_view word, std::vector<int64_t>& ids);
  void Insert(std::string_view word, const std::vector<int32_t>& ids);

 private:
  struct Slot {
    uint64_t hash;
    uint32_t key_at, ids_at;     // offsets into keys_ / ids_
    uint16_t key_len, ids_len;   // key_len 0: empty slot (words are never empty)
  };
  size_t Find(std::string_view word, uint64_t hash) const;  // slot holding word, or the empty slot to use
  void Grow();
  void Clear();

  std::mutex mutex_;
  std::vector<Slot> slots_;  // size a power of two, at most half full
  std::string keys_;
  std::vector<int32_t> ids_;
  size_t count_ = 0;
};

}  // namespace dsvl
