// Per-format decoders behind DecodeImageBytes. Each validates its header, calls CheckImageSize before
// allocating pixels, and throws dsvl::Error naming `name` on any problem.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/image.h"
#include "io/image_decode.h"

namespace dsvl::detail {

RgbImage DecodeJpeg(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits);
RgbImage DecodePng(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits);
RgbImage DecodeWebp(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits);
RgbImage DecodeGif(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits);
RgbImage DecodeBmp(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits);

// Throws kCorruptData for non-positive sizes and kLimitExceeded above limits.max_pixels.
void CheckImageSize(int64_t width, int64_t height, const std::string& name, const ImageLimits& limits);

// Allocates an image after CheckImageSize.
RgbImage AllocateImage(int64_t width, int64_t height, const std::string& name, const ImageLimits& limits);

[[noreturn]] void ThrowCorrupt(const std::string& name, const std::string& detail);

// A Pillow palette: entries beyond those the file defines keep ImagingPaletteNew's grey ramp (i, i, i).
struct Palette {
  std::array<uint8_t, 256 * 3> rgb;
  Palette();
};

}  // namespace dsvl::detail
