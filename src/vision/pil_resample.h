// Pillow-exact geometry on 8-bit RGB images: the resize/pad/paste steps the official DeepSeek-VL and
// DeepSeek-VL2 processors perform through PIL. Bit-exactness matters because the vision towers see
// these bytes; the fixtures were made with Pillow 9.4.0.
#pragma once

#include <array>
#include <cstdint>

#include "io/image.h"

namespace dsvl {

class ThreadPool;

using RgbColor = std::array<uint8_t, 3>;

// Image.resize((w, h), Image.BICUBIC) for an RGB image (Pillow's ImagingResample: separable, support
// scaled by the downscale factor, 22-bit fixed-point coefficients, horizontal pass first into an 8-bit
// intermediate). Same size returns a copy. A zero dimension gives an empty image (nothing to paste).
// With a pool, rows are split across threads (results are identical).
RgbImage PilResizeBicubic(const RgbImage& src, int64_t w, int64_t h, ThreadPool* pool = nullptr);

// Image.new('RGB', (w, h), color).
RgbImage FilledImage(int64_t w, int64_t h, RgbColor color);

// Image.paste(src, (x, y)) onto dst, clipped to dst.
void PasteImage(RgbImage& dst, const RgbImage& src, int64_t x, int64_t y);

// Image.crop((x, y, x + w, y + h)) for a box fully inside the image.
RgbImage CropImage(const RgbImage& src, int64_t x, int64_t y, int64_t w, int64_t h);

// ImageOps.pad(image, (w, h), BICUBIC, color): ImageOps.contain (Python round = half-to-even) and a
// paste at round((size - new) * 0.5) on the padded axis.
RgbImage PilImageOpsPad(const RgbImage& src, int64_t w, int64_t h, const uint8_t color[3],
                        ThreadPool* pool = nullptr);

// DeepSeek-VL expand2square: square canvas of side max(w, h) filled with background, image pasted at
// floor((side - w) / 2), floor((side - h) / 2). A square input is returned unchanged.
RgbImage ExpandToSquare(const RgbImage& src, RgbColor background);

}  // namespace dsvl
