#include "text/utf8.h"

namespace dsvl::text {
namespace {

inline bool IsCont(uint8_t b) { return (b & 0xC0) == 0x80; }

// Width announced by a lead byte (0 for bytes that can never start a sequence).
inline size_t LeadWidth(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// The allowed range of the second byte depends on the lead byte (excludes overlongs, surrogates and
// code points above U+10FFFF).
inline bool SecondByteOk(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return IsCont(b);
  }
}

// Number of leading bytes at s[i] that form a valid (possibly incomplete) prefix of a sequence of
// width w; equals w for a complete sequence.
size_t ValidPrefix(std::string_view s, size_t i, size_t w) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = 1;
  if (w >= 2) {
    if (i + 1 >= s.size() || !SecondByteOk(p[i], p[i + 1])) return n;
    ++n;
  }
  for (; n < w; ++n) {
    if (i + n >= s.size() || !IsCont(p[i + n])) return n;
  }
  return n;
}

}  // namespace

size_t ValidSequenceLength(std::string_view s, size_t i) {
  size_t w = LeadWidth(static_cast<uint8_t>(s[i]));
  if (w <= 1) return w;
  return ValidPrefix(s, i, w) == w ? w : 0;
}

size_t InvalidSubpartLength(std::string_view s, size_t i) {
  size_t w = LeadWidth(static_cast<uint8_t>(s[i]));
  if (w == 0) return 1;
  return ValidPrefix(s, i, w);  // < w here: the valid prefix is consumed as one error
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = ValidSequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void AppendUtf8Lossy(std::string_view s, std::string& out) {
  size_t run = 0;  // start of the pending valid run, copied in one go
  for (size_t i = 0; i < s.size();) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = ValidSequenceLength(s, i);
    if (n != 0) {
      i += n;
      continue;
    }
    out.append(s.data() + run, i - run);
    out += "\xEF\xBF\xBD";
    i += InvalidSubpartLength(s, i);
    run = i;
  }
  out.append(s.data() + run, s.size() - run);
}

size_t IncompleteTailLength(std::string_view s) {
  // A sequence is at most 4 bytes, so only a lead byte among the last 3 can start an incomplete one.
  size_t lo = s.size() >= 3 ? s.size() - 3 : 0;
  for (size_t i = s.size(); i > lo;) {
    --i;
    uint8_t b = static_cast<uint8_t>(s[i]);
    if (IsCont(b)) continue;
    size_t w = LeadWidth(b);
    size_t have = s.size() - i;
    if (w > have && ValidPrefix(s, i, w) == have) return have;
    return 0;
  }
  return 0;
}

uint32_t DecodeCodePoint(std::string_view s, size_t i, size_t len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + i;
  switch (len) {
    case 1: return p[0];
    case 2: return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    case 3: return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    default:
      return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
  }
}

void AppendCodePoint(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace dsvl::text
