// A set of code points defined by a one-character Oniguruma pattern (`[a-z]`, `\s`, `\p{N}`, ...),
// answered from lookup tables instead of a regex search. Oniguruma itself decides every membership
// (once per code point, on first use), so the set is exactly what the regex engine would match.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "text/regex.h"

namespace dsvl::text {

// Code point returned by DecodeUtf8At for bytes that do not start a complete sequence; no class
// contains it.
inline constexpr uint32_t kNotACodePoint = 0x110000;

// Decodes the code point starting at s[i] of valid UTF-8 and sets len to its byte length (1 and
// kNotACodePoint for a truncated or stray byte, so scans always advance).
inline uint32_t DecodeUtf8At(const char* s, size_t size, size_t i, size_t& len) {
  auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  size_t n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  if (b0 < 0xC0 || i + n > size) {
    len = 1;
    return kNotACodePoint;
  }
  uint32_t cp = b0 & (0x7Fu >> n);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3Fu);
  len = n;
  return cp;
}

class CodePointClass {
 public:
  // `pattern` must match exactly one character; throws dsvl::Error(kCorruptData) naming `where` if
  // it does not compile.
  CodePointClass(const std::string& pattern, const std::string& where);
  ~CodePointClass();
  CodePointClass(const CodePointClass&) = delete;
  CodePointClass& operator=(const CodePointClass&) = delete;

  // Thread-safe: concurrent first uses of a code point may both ask Oniguruma and store the same
  // answer.
  bool Contains(uint32_t cp) const {
    if (cp < 128) return ascii_[cp];
    if (cp >= kNotACodePoint) return false;
    if (const std::atomic<uint8_t>* page = pages_[cp >> kPageBits].load(std::memory_order_acquire)) {
      uint8_t state = page[cp & kPageMask].load(std::memory_order_relaxed);
      if (state != kUnknown) return state == kIn;
    }
    return FirstLookup(cp);
  }

 private:
  static constexpr uint32_t kPageBits = 8;
  static constexpr uint32_t kPageSize = 1u << kPageBits;
  static constexpr uint32_t kPageMask = kPageSize - 1;
  static constexpr uint32_t kPages = kNotACodePoint >> kPageBits;
  enum : uint8_t { kUnknown = 0, kOut = 1, kIn = 2 };

  // Allocates the page if needed and asks Oniguruma. (Filling whole pages with one search was
  // tried: Oniguruma's per-position cost made it slower for real text than asking per code point.)
  bool FirstLookup(uint32_t cp) const;
  bool AskRegex(uint32_t cp) const;

  Regex regex_;
  std::array<bool, 128> ascii_{};
  // Lazily allocated pages of kUnknown/kOut/kIn, one byte per code point: text touches few pages.
  mutable std::unique_ptr<std::atomic<std::atomic<uint8_t>*>[]> pages_;
};

}  // namespace dsvl::text
