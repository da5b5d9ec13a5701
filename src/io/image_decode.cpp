#include "io/image_decode.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/aligned_alloc.h"
#include "dsvl/error.h"
#include "io/image_decode_internal.h"

namespace dsvl {
namespace detail {

void CheckImageSize(int64_t width, int64_t height, const std::string& name, const ImageLimits& limits) {
  if (width <= 0 || height <= 0) {
    Throw(ErrorCode::kCorruptData, ErrorContext{name, "image size", "positive width and height",
                                                std::to_string(width) + "x" + std::to_string(height), ""});
  }
  // Checked in two steps so the product cannot overflow.
  if (width > limits.max_pixels || height > limits.max_pixels / width) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{name, "image size", "at most " + std::to_string(limits.max_pixels) + " pixels",
                       std::to_string(width) + "x" + std::to_string(height),
                       "(limit max_image_pixels, checked before decoding; see docs/limits.md)"});
  }
}

RgbImage AllocateImage(int64_t width, int64_t height, const std::string& name, const ImageLimits& limits) {
  CheckImageSize(width, height, name, limits);
  RgbImage img;
  img.width = width;
  img.height = height;
  const size_t bytes = static_cast<size_t>(width * height * 3);
  try {
    img.pixels.resize(bytes);
  } catch (const std::bad_alloc&) {
    ThrowOutOfMemory(name + ": decoded RGB pixels", bytes);
  }
  return img;
}

void ThrowCorrupt(const std::string& name, const std::string& detail) {
  Throw(ErrorCode::kCorruptData, ErrorContext{name, "", "", "", detail});
}

Palette::Palette() {
  for (int i = 0; i < 256; ++i) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = static_cast<uint8_t>(i);
}

}  // namespace detail

ImageFormat SniffImageFormat(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::kJpeg;
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return ImageFormat::kPng;
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) return ImageFormat::kWebp;
  if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) return ImageFormat::kGif;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return ImageFormat::kBmp;
  return ImageFormat::kUnknown;
}

const char* ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kGif: return "GIF";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

RgbImage DecodeImageBytes(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits) {
  if (static_cast<int64_t>(size) > limits.max_file_bytes) {
    Throw(ErrorCode::kLimitExceeded, ErrorContext{name, "file size", "at most " + std::to_string(limits.max_file_bytes) +
                                                  " bytes", std::to_string(size) + " bytes", ""});
  }
  if (size == 0) detail::ThrowCorrupt(name, "empty image file");
  switch (SniffImageFormat(data, size)) {
    case ImageFormat::kJpeg: return detail::DecodeJpeg(data, size, name, limits);
    case ImageFormat::kPng: return detail::DecodePng(data, size, name, limits);
    case ImageFormat::kWebp: return detail::DecodeWebp(data, size, name, limits);
    case ImageFormat::kGif: return detail::DecodeGif(data, size, name, limits);
    case ImageFormat::kBmp: return detail::DecodeBmp(data, size, name, limits);
    case ImageFormat::kUnknown: break;
  }
  Throw(ErrorCode::kUnsupported, ErrorContext{name, "image format", "JPEG, PNG, WebP, GIF or BMP",
                                              "unrecognised leading bytes", ""});
}

RgbImage DecodeImageFile(const std::string& path, const ImageLimits& limits) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    Throw(ErrorCode::kNotFound, ErrorContext{path, "", "", "", "image file not found"});
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{path, "", "", "", "not a regular file"});
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "cannot open image file"});
  const std::streamoff size = in.tellg();
  if (size < 0) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "cannot determine file size"});
  if (size > limits.max_file_bytes) {
    Throw(ErrorCode::kLimitExceeded, ErrorContext{path, "file size", "at most " + std::to_string(limits.max_file_bytes) +
                                                  " bytes", std::to_string(size) + " bytes", ""});
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "read failed"});
  }
  return DecodeImageBytes(bytes.data(), bytes.size(), path, limits);
}

}  // namespace dsvl
