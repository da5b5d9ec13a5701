// UTF-8 helpers shared by the tokenizer. Decoding follows Rust's String::from_utf8_lossy exactly
// (each maximal invalid subpart becomes one U+FFFD), because the HF `tokenizers` decoder is Rust and
// the expected decoded strings in the test cases were produced by it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dsvl::text {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not a valid
// sequence (Rust's rules: no overlongs, no surrogates, max U+10FFFF).
size_t ValidSequenceLength(std::string_view s, size_t i);

// Length of the invalid subpart starting at s[i] (1..3): the bytes Rust replaces by one U+FFFD.
size_t InvalidSubpartLength(std::string_view s, size_t i);

bool IsValidUtf8(std::string_view s);

// Appends s to out, replacing invalid subparts with U+FFFD (Rust from_utf8_lossy semantics).
void AppendUtf8Lossy(std::string_view s, std::string& out);

// Number of trailing bytes of s that form an incomplete (but so far valid) multi-byte sequence; a
// streaming decoder holds these back until the next token completes them.
size_t IncompleteTailLength(std::string_view s);

// Decodes the code point of a valid sequence of length len at s[i].
uint32_t DecodeCodePoint(std::string_view s, size_t i, size_t len);

void AppendCodePoint(uint32_t cp, std::string& out);

}  // namespace dsvl::text
