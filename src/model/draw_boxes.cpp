#include "model/draw_boxes.h"

#include <algorithm>
#include <cstdint>

#include "model/bitmap_font.h"

namespace dsvl {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

constexpr Rgb kPalette[] = {
    {255, 0, 0},   {0, 160, 0},   {0, 0, 255},   {255, 140, 0}, {160, 0, 200},
    {0, 170, 170}, {200, 0, 100}, {120, 90, 0},  {0, 90, 200},  {90, 200, 0},
};
constexpr int kLineWidth = 3;
constexpr int kFontScale = 2;

void FillRect(RgbImage& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb c) {
  x0 = std::max<int64_t>(x0, 0);
  y0 = std::max<int64_t>(y0, 0);
  x1 = std::min<int64_t>(x1, img.width);  // exclusive
  y1 = std::min<int64_t>(y1, img.height);
  for (int64_t y = y0; y < y1; ++y) {
    uint8_t* p = img.row(y);
    for (int64_t x = x0; x < x1; ++x) {
      p[3 * x] = c.r;
      p[3 * x + 1] = c.g;
      p[3 * x + 2] = c.b;
    }
  }
}

void DrawLabel(RgbImage& img, const std::string& label, int64_t x, int64_t y_bottom, Rgb c) {
  if (label.empty()) return;
  const int64_t glyph_w = (kGlyphWidth + 1) * kFontScale;
  const int64_t strip_h = (kGlyphHeight + 2) * kFontScale;
  // UTF-8 continuation bytes do not start a glyph, so a multi-byte character takes one cell.
  int64_t cells = 0;
  for (unsigned char ch : label) cells += (ch & 0xC0) != 0x80;
  int64_t y0 = y_bottom - strip_h;
  if (y0 < 0) y0 = y_bottom + kLineWidth;  // no room above the box: put the label inside it
  x = std::clamp<int64_t>(x, 0, std::max<int64_t>(0, img.width - 1));
  FillRect(img, x, y0, x + cells * glyph_w + kFontScale, y0 + strip_h, c);
  int64_t cx = x + kFontScale;
  for (unsigned char ch : label) {
    if ((ch & 0xC0) == 0x80) continue;
    for (int gy = 0; gy < kGlyphHeight; ++gy) {
      for (int gx = 0; gx < kGlyphWidth; ++gx) {
        if (!GlyphPixel(ch < 0x80 ? ch : 0x7F, gx, gy)) continue;
        const int64_t px = cx + gx * kFontScale, py = y0 + kFontScale + gy * kFontScale;
        FillRect(img, px, py, px + kFontScale, py + kFontScale, Rgb{255, 255, 255});
      }
    }
    cx += glyph_w;
  }
}

}  // namespace

void DrawBoxes(RgbImage& image, const std::vector<GroundingBox>& boxes) {
  if (image.width <= 0 || image.height <= 0) return;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Rgb c = kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
    const int64_t x1 = std::min(boxes[i].box[0], boxes[i].box[2]);
    const int64_t x2 = std::max(boxes[i].box[0], boxes[i].box[2]);
    const int64_t y1 = std::min(boxes[i].box[1], boxes[i].box[3]);
    const int64_t y2 = std::max(boxes[i].box[1], boxes[i].box[3]);
    // PIL's rectangle(width=3) draws inward from the box edges, both edges inclusive. A box
    // thinner than the line is filled, never drawn past its own edges.
    const int64_t lw_x = std::min<int64_t>(kLineWidth, x2 - x1 + 1);
    const int64_t lw_y = std::min<int64_t>(kLineWidth, y2 - y1 + 1);
    FillRect(image, x1, y1, x2 + 1, y1 + lw_y, c);
    FillRect(image, x1, y2 + 1 - lw_y, x2 + 1, y2 + 1, c);
    FillRect(image, x1, y1, x1 + lw_x, y2 + 1, c);
    FillRect(image, x2 + 1 - lw_x, y1, x2 + 1, y2 + 1, c);
    DrawLabel(image, boxes[i].label, x1, y1, c);
  }
}

}  // namespace dsvl
