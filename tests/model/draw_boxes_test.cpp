// Box drawing: a 3-pixel outline drawn inward from the box edges (both inclusive, as PIL's
// rectangle(width=3)), in a per-box palette colour, the label on a strip of that colour above the
// box (inside it when there is no room), everything clipped to the image.
#include "model/draw_boxes.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "model/bitmap_font.h"

namespace dsvl {
namespace {

using Px = std::array<uint8_t, 3>;
constexpr Px kGrey = {50, 50, 50};
constexpr Px kRed = {255, 0, 0};     // palette[0]
constexpr Px kGreen = {0, 160, 0};   // palette[1]
constexpr Px kWhite = {255, 255, 255};

RgbImage Grey(int64_t w, int64_t h) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.assign(w * h * 3, 50);
  return img;
}

Px At(const RgbImage& img, int64_t x, int64_t y) {
  const uint8_t* p = img.row(y) + 3 * x;
  return {p[0], p[1], p[2]};
}

GroundingBox Box(int64_t x1, int64_t y1, int64_t x2, int64_t y2, std::string label = "") {
  GroundingBox b;
  b.label = std::move(label);
  b.box[0] = x1;
  b.box[1] = y1;
  b.box[2] = x2;
  b.box[3] = y2;
  return b;
}

int64_t CountColour(const RgbImage& img, Px c, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  int64_t n = 0;
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) n += At(img, x, y) == c;
  }
  return n;
}

TEST(DrawBoxes, OutlineIsThreePixelsInsideTheBox) {
  RgbImage img = Grey(100, 80);
  DrawBoxes(img, {Box(10, 20, 60, 70)});
  for (int64_t x = 10; x <= 60; ++x) {
    for (int64_t t = 0; t < 3; ++t) {
      EXPECT_EQ(At(img, x, 20 + t), kRed) << x << "," << 20 + t;  // top edge
      EXPECT_EQ(At(img, x, 70 - t), kRed) << x << "," << 70 - t;  // bottom edge
    }
  }
  for (int64_t y = 20; y <= 70; ++y) {
    for (int64_t t = 0; t < 3; ++t) {
      EXPECT_EQ(At(img, 10 + t, y), kRed) << 10 + t << "," << y;
      EXPECT_EQ(At(img, 60 - t, y), kRed) << 60 - t << "," << y;
    }
  }
  // Just inside the outline, and everything outside the box, is untouched.
  EXPECT_EQ(At(img, 13, 23), kGrey);
  EXPECT_EQ(At(img, 57, 67), kGrey);
  EXPECT_EQ(At(img, 35, 45), kGrey);
  const int64_t red = CountColour(img, kRed, 0, 0, 100, 80);
  EXPECT_EQ(red, 51 * 51 - 45 * 45);  // the ring between the 51x51 box and its 45x45 inside
}

TEST(DrawBoxes, LabelStripAboveTheBox) {
  RgbImage img = Grey(100, 80);
  DrawBoxes(img, {Box(10, 40, 60, 70, "AB")});
  // Strip: (7 + 2) * 2 = 18 rows above y1, 2 cells * (5 + 1) * 2 + 2 = 26 columns from x1.
  const int64_t strip_red = CountColour(img, kRed, 10, 22, 36, 40);
  const int64_t strip_white = CountColour(img, kWhite, 10, 22, 36, 40);
  EXPECT_EQ(strip_red + strip_white, 26 * 18);
  // Ink: every set glyph cell is a 2x2 white square.
  int64_t ink = 0;
  for (unsigned char c : std::string("AB")) {
    for (int y = 0; y < kGlyphHeight; ++y) {
      for (int x = 0; x < kGlyphWidth; ++x) ink += GlyphPixel(c, x, y);
    }
  }
  EXPECT_GT(ink, 0);
  EXPECT_EQ(strip_white, ink * 4);
  // Nothing beyond the strip, and the rows above it are untouched.
  EXPECT_EQ(At(img, 36, 30), kGrey);
  EXPECT_EQ(CountColour(img, kRed, 0, 0, 100, 22), 0);
  EXPECT_EQ(CountColour(img, kWhite, 0, 0, 100, 22), 0);
}

TEST(DrawBoxes, LabelGoesInsideWhenThereIsNoRoomAbove) {
  RgbImage img = Grey(100, 80);
  DrawBoxes(img, {Box(10, 5, 90, 75, "X")});
  // Starts below the 3-pixel top edge: rows 8 .. 25.
  EXPECT_GT(CountColour(img, kWhite, 10, 8, 24, 26), 0);
  EXPECT_EQ(CountColour(img, kWhite, 0, 0, 100, 8), 0);
  EXPECT_EQ(At(img, 20, 26), kGrey);
}

TEST(DrawBoxes, EachBoxGetsTheNextPaletteColour) {
  RgbImage img = Grey(100, 80);
  DrawBoxes(img, {Box(0, 0, 20, 20), Box(50, 50, 70, 70)});
  EXPECT_EQ(At(img, 0, 0), kRed);
  EXPECT_EQ(At(img, 50, 50), kGreen);
}

TEST(DrawBoxes, BoxesOutsideTheImageAreClipped) {
  RgbImage img = Grey(100, 80);
  const std::vector<uint8_t> before = img.pixels;
  // Entirely outside (with a label), and one enclosing the whole image: its outline is off-image.
  DrawBoxes(img, {Box(500, 500, 600, 600, "far"), Box(-50, -50, 150, 150)});
  EXPECT_EQ(img.pixels, before);
  // Partly outside: only the visible part of the outline is drawn.
  DrawBoxes(img, {Box(90, 70, 200, 200)});
  EXPECT_EQ(At(img, 99, 70), kRed);
  EXPECT_EQ(At(img, 90, 79), kRed);
  EXPECT_EQ(At(img, 95, 75), kGrey);
  EXPECT_EQ(CountColour(img, kRed, 0, 0, 100, 80), 10 * 3 + 3 * 10 - 9);
}

TEST(DrawBoxes, DegenerateAndReversedBoxes) {
  RgbImage img = Grey(40, 30);
  DrawBoxes(img, {Box(20, 10, 20, 10)});  // a point
  EXPECT_EQ(At(img, 20, 10), kRed);
  EXPECT_EQ(At(img, 21, 10), kGrey);
  EXPECT_EQ(At(img, 19, 10), kGrey);
  EXPECT_EQ(At(img, 20, 9), kGrey);
  EXPECT_EQ(CountColour(img, kRed, 0, 0, 40, 30), 1);
  DrawBoxes(img, {Box(2, 25, 30, 26)});  // two rows high: both rows filled, nothing around
  EXPECT_EQ(CountColour(img, kRed, 0, 24, 40, 28), 29 * 2);
  RgbImage a = Grey(40, 30), b = Grey(40, 30);
  DrawBoxes(a, {Box(5, 6, 30, 25)});
  DrawBoxes(b, {Box(30, 25, 5, 6)});  // corners given the other way round
  EXPECT_EQ(a.pixels, b.pixels);
  RgbImage empty;
  DrawBoxes(empty, {Box(0, 0, 5, 5, "x")});  // no pixels: nothing to do, no crash
  RgbImage tiny = Grey(1, 1);
  DrawBoxes(tiny, {Box(0, 0, 0, 0, "label longer than the image é")});
  EXPECT_EQ(At(tiny, 0, 0), kRed);
}

TEST(BitmapFont, GlyphsAreDistinctAndLowerCaseIsUpperCase) {
  auto bits = [](unsigned char c) {
    std::string s;
    for (int y = 0; y < kGlyphHeight; ++y) {
      for (int x = 0; x < kGlyphWidth; ++x) s += GlyphPixel(c, x, y) ? '#' : '.';
    }
    return s;
  };
  EXPECT_EQ(bits('a'), bits('A'));
  EXPECT_NE(bits('A'), bits('B'));
  EXPECT_NE(bits('0'), bits('8'));
  EXPECT_EQ(bits(' '), std::string(35, '.'));
  // Unknown characters draw as a visible placeholder, not as blank.
  EXPECT_NE(bits(0x7F), std::string(35, '.'));
}

}  // namespace
}  // namespace dsvl
