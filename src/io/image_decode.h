// Image file decoding to 8-bit RGB, matching PIL's Image.open(path).convert('RGB') (Pillow 9.4, the
// version the fixtures were made with): alpha is dropped without compositing, grey is replicated,
// palettes are expanded, 16-bit PNG channels keep their high byte (16-bit grey clips to 255 like
// Pillow's "I" -> "RGB"), CMYK JPEGs are read as Adobe-inverted and converted with Pillow's formula.
// Animated GIF/WebP: the first frame, as Pillow shows it after open().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/image.h"

namespace dsvl {

struct ImageLimits {
  // 89,478,485 = Pillow's MAX_IMAGE_PIXELS (about 9459 x 9459): beyond it Pillow warns about a
  // decompression bomb; an RGB copy of that is ~268 MB, already far above what the tilers use.
  int64_t max_pixels = 89'478'485;
  int64_t max_file_bytes = int64_t{256} << 20;  // 256 MiB of compressed input
};

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kGif, kBmp };

// Format from the leading magic bytes (the extension is ignored, as PIL does).
ImageFormat SniffImageFormat(const uint8_t* data, size_t size);
const char* ImageFormatName(ImageFormat format);

// Throws dsvl::Error: kNotFound / kIo (file), kLimitExceeded (limits), kUnsupported (unknown format,
// BMP RLE, 2-channel JPEG ...), kCorruptData (malformed or truncated data). Messages name the file.
RgbImage DecodeImageFile(const std::string& path, const ImageLimits& limits = {});
RgbImage DecodeImageBytes(const uint8_t* data, size_t size, const std::string& name,
                          const ImageLimits& limits = {});

}  // namespace dsvl
