// A fast 64-bit hash for short byte strings (pre-tokens, vocabulary entries): eight bytes per
// multiply, mixed once at the end. Not for adversarial keys (tables using it bound their size).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace dsvl::text {

inline uint64_t HashBytes(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  const char* p = s.data();
  size_t left = s.size();
  for (; left >= 8; p += 8, left -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  if (left > 0) {
    uint64_t v = 0;
    for (size_t k = 0; k < left; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[k])) << (8 * k);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
  }
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

}  // namespace dsvl::text
