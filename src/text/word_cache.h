// Pre-token → ids cache shared by all Encode calls of one Tokenizer. Real text repeats the same
// words constantly, so most pre-tokens skip BPE entirely; this is what makes encoding fast.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "text/bpe.h"
#include "text/tokenizer.h"

namespace dsvl {

struct Tokenizer::WordCache {
  // Long pre-tokens are rare and unlikely to repeat; bounding the key size and the entry count keeps
  // memory bounded on adversarial input (the cache is simply dropped when full).
  static constexpr size_t kMaxWordBytes = 256;
  static constexpr size_t kMaxEntries = 1 << 18;

  bool Lookup(std::string_view word, std::vector<int64_t>& ids) {
    if (word.size() > kMaxWordBytes) return false;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = map.find(word);
    if (it == map.end()) return false;
    ids.insert(ids.end(), it->second.begin(), it->second.end());
    return true;
  }
  void Insert(std::string_view word, const std::vector<int32_t>& ids) {
    if (word.size() > kMaxWordBytes) return;
    std::lock_guard<std::mutex> lock(mutex);
    if (map.size() >= kMaxEntries) map.clear();
    map.emplace(std::string(word), ids);
  }

  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, text::StringHash, std::equal_to<>> map;
};

}  // namespace dsvl
