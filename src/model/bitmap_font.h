// A tiny built-in 5x7 bitmap font for box labels, so drawing needs no font file. Covers digits,
// letters (lower case drawn as upper case) and common punctuation; other characters (including
// non-ASCII UTF-8) are drawn as a hollow box.
#pragma once

#include <cstdint>

namespace dsvl {

constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 7;

// Returns true if pixel (x, y) of the glyph for byte c is set; 0 <= x < 5, 0 <= y < 7.
bool GlyphPixel(unsigned char c, int x, int y);

}  // namespace dsvl
