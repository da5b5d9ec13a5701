// Token string -> id for the BPE vocabulary: an open-addressing table of ids whose keys are the
// strings already stored in the id -> token array, so the 100k-130k entries cost 8 bytes each and
// no allocation (std::unordered_map<std::string, int> made building it a third of the load time).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/string_hash.h"

namespace dsvl::text {

class TokenIndex {
 public:
  // `tokens[id]` is the string of each id inserted; callers pass the same array every time.
  void Reserve(size_t count) {
    size_t slots = 16;
    while (slots < count * 2) slots *= 2;
    slots_.assign(slots, Slot{});
    shift_ = 64;
    for (size_t s = slots; s > 1; s >>= 1) --shift_;
    count_ = 0;
  }

  // Adds tokens[id] -> id unless that string is present already (returns false then). The table
  // must have been reserved for all entries.
  bool Insert(int32_t id, const std::vector<std::string>& tokens) {
    const std::string_view key = tokens[id];
    const uint64_t h = HashBytes(key);
    size_t i = Find(key, h, tokens);
    if (slots_[i].id >= 0) return false;
    slots_[i] = Slot{static_cast<uint32_t>(h), id};
    ++count_;
    return true;
  }

  int32_t Find(std::string_view key, const std::vector<std::string>& tokens) const {
    if (slots_.empty()) return -1;
    return slots_[Find(key, HashBytes(key), tokens)].id;
  }

 private:
  struct Slot {
    uint32_t tag = 0;  // low 32 bits of the hash: most mismatches never touch the string
    int32_t id = -1;   // -1: empty
  };

  size_t Find(std::string_view key, uint64_t h, const std::vector<std::string>& tokens) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = (h * 0x9E3779B97F4A7C15ull) >> shift_;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.id < 0 || (s.tag == static_cast<uint32_t>(h) && tokens[s.id] == key)) return i;
    }
  }

  std::vector<Slot> slots_;
  size_t count_ = 0;
  int shift_ = 64;
};

}  // namespace dsvl::text
