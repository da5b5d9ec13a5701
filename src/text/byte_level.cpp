#include "text/byte_level.h"

#include <array>

#include "text/utf8.h"

namespace dsvl::text {
namespace {

struct Tables {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_utf8;
  std::array<int16_t, 512> cp_to_byte{};  // all alphabet code points are < 512; -1 = not in alphabet

  Tables() {
    cp_to_byte.fill(-1);
    // Printable Latin-1 bytes keep their own code point; the others are moved to 256, 257, ... in
    // byte order (the GPT-2 bytes_to_unicode table).
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      byte_to_cp[b] = cp;
      cp_to_byte[cp] = static_cast<int16_t>(b);
      AppendCodePoint(cp, byte_to_utf8[b]);
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

uint32_t ByteToCodePoint(uint8_t b) { return GetTables().byte_to_cp[b]; }

void AppendByteLevel(std::string_view raw, std::string& out) {
  const auto& t = GetTables();
  for (char c : raw) out += t.byte_to_utf8[static_cast<uint8_t>(c)];
}

void AppendByteLevelDecoded(std::string_view token, std::string& out) {
  const auto& t = GetTables();
  size_t start = out.size();
  for (size_t i = 0; i < token.size();) {
    size_t len = ValidSequenceLength(token, i);
    uint32_t cp = len == 0 ? 0xFFFFFFFFu : DecodeCodePoint(token, i, len);
    if (cp >= t.cp_to_byte.size() || t.cp_to_byte[cp] < 0) {
      out.resize(start);
      out.append(token);
      return;
    }
    out += static_cast<char>(t.cp_to_byte[cp]);
    i += len;
  }
}

}  // namespace dsvl::text
