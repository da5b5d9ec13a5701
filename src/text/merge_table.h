// The BPE merge ranks, keyed by the pair of token ids: an open-addressing table over one flat
// array, so a lookup in the merge loop is one hash and (usually) one cache line, instead of the
// bucket and node hops of std::unordered_map.
#pragma once

#include <cstdint>
#include <vector>

namespace dsvl::text {

struct BpeMerge {
  int32_t rank;    // position in model.merges: lower merges first
  int32_t new_id;  // id of the merged token
};

class MergeTable {
 public:
  MergeTable() { Rehash(16); }

  void Reserve(size_t count) {
    size_t slots = 16;
    while (slots < count * 2) slots *= 2;
    if (slots > entries_.size()) Rehash(slots);
  }

  // Later entries for the same pair replace earlier ones.
  void InsertOrAssign(int32_t left, int32_t right, BpeMerge merge) {
    if ((count_ + 1) * 2 > entries_.size()) Rehash(entries_.size() * 2);
    const uint64_t key = Key(left, right);
    Entry& e = entries_[Slot(key)];
    if (e.key == kEmpty) {
      e.key = key;
      ++count_;
    }
    e.merge = merge;
  }

  const BpeMerge* Find(int32_t left, int32_t right) const {
    const Entry& e = entries_[Slot(Key(left, right))];
    return e.key == kEmpty ? nullptr : &e.merge;
  }

  size_t size() const { return count_; }

 private:
  // Token ids are non-negative, so no real pair has this key.
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Entry {
    uint64_t key = kEmpty;
    BpeMerge merge{};
  };

  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  // The slot holding `key`, or the empty slot where it belongs (linear probing, Fibonacci hashing).
  size_t Slot(uint64_t key) const {
    const size_t mask = entries_.size() - 1;
    for (size_t i = (key * 0x9E3779B97F4A7C15ull) >> shift_;; i = (i + 1) & mask) {
      if (entries_[i].key == key || entries_[i].key == kEmpty) return i;
    }
  }
  void Rehash(size_t slots) {
    std::vector<Entry> old(slots);
    old.swap(entries_);
    shift_ = 64;
    for (size_t s = slots; s > 1; s >>= 1) --shift_;
    for (const Entry& e : old) {
      if (e.key != kEmpty) entries_[Slot(e.key)] = e;
    }
  }

  std::vector<Entry> entries_;
  size_t count_ = 0;
  int shift_ = 60;
};

}  // namespace dsvl::text
