// GPT-2 style byte-level alphabet: every byte is shown as one printable code point, so a byte-level
// BPE vocabulary is a vocabulary of strings over these 256 "characters".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsvl::text {

// Code point standing for byte b.
uint32_t ByteToCodePoint(uint8_t b);

// Appends the byte-level form of raw bytes (each byte becomes its code point, UTF-8 encoded).
void AppendByteLevel(std::string_view raw, std::string& out);

// Appends the bytes a decoded token stands for, as the HF ByteLevel decoder does: if every character
// of the token is in the byte-level alphabet, their bytes; otherwise (e.g. a special token such as
// "<｜end▁of▁sentence｜>") the token's own UTF-8 bytes unchanged.
void AppendByteLevelDecoded(std::string_view token, std::string& out);

}  // namespace dsvl::text
