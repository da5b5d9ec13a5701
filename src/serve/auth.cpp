#include "serve/auth.h"

namespace dsvl::serve {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The length may leak; the bytes do not: every byte of the longer string is visited.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool BearerTokenMatches(std::string_view header, std::string_view key) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (key.empty() || header.size() < kPrefix.size() || header.substr(0, kPrefix.size()) != kPrefix) return false;
  return ConstantTimeEquals(header.substr(kPrefix.size()), key);
}

}  // namespace dsvl::serve
