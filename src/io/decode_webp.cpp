// WebP via libwebp. Pillow 9.4 decodes every WebP through WebPAnimDecoder in non-premultiplied RGBA
// with default options (fancy upsampling), then convert('RGB') drops alpha:
//  - a still image is the plain decode, whose RGB channels are what WebPDecodeRGBInto writes;
//  - an animated image's first frame is a zero-filled canvas (VP8X canvas size) with frame 1 decoded
//    into its rectangle (the first frame is a key frame, so no blending). We walk the RIFF chunks to
//    find it rather than link libwebpdemux.
#include <cstring>
#include <vector>

#include <webp/decode.h>

#include "dsvl/error.h"
#include "io/image_decode_internal.h"

namespace dsvl::detail {
namespace {

uint32_t Le24(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16); }
uint32_t Le32(const uint8_t* p) { return Le24(p) | (static_cast<uint32_t>(p[3]) << 24); }

RgbImage DecodeAnimatedFirstFrame(const uint8_t* data, size_t size, const std::string& name,
                                  const ImageLimits& limits) {
  int64_t canvas_w = 0, canvas_h = 0;
  size_t pos = 12;  // after "RIFF" size "WEBP"
  while (pos + 8 <= size) {
    const uint8_t* tag = data + pos;
    const size_t len = Le32(data + pos + 4);
    const uint8_t* payload = data + pos + 8;
    if (len > size - pos - 8) ThrowCorrupt(name, "WebP: chunk runs past the end of the file");
    if (std::memcmp(tag, "VP8X", 4) == 0 && len >= 10) {
      canvas_w = 1 + static_cast<int64_t>(Le24(payload + 4));
      canvas_h = 1 + static_cast<int64_t>(Le24(payload + 7));
    } else if (std::memcmp(tag, "ANMF", 4) == 0) {
      if (len < 16) ThrowCorrupt(name, "WebP: ANMF chunk too short");
      const int64_t x = 2 * static_cast<int64_t>(Le24(payload));
      const int64_t y = 2 * static_cast<int64_t>(Le24(payload + 3));
      const int64_t fw = 1 + static_cast<int64_t>(Le24(payload + 6));
      const int64_t fh = 1 + static_cast<int64_t>(Le24(payload + 9));
      if (canvas_w == 0) ThrowCorrupt(name, "WebP: animation without a VP8X canvas");
      if (x + fw > canvas_w || y + fh > canvas_h) ThrowCorrupt(name, "WebP: first frame outside the canvas");
      RgbImage img = AllocateImage(canvas_w, canvas_h, name, limits);  // zero-filled canvas
      std::vector<uint8_t> rgba(static_cast<size_t>(fw * fh * 4));
      // The frame payload (optional ALPH + VP8, or VP8L) is a bitstream libwebp decodes without RIFF.
      if (WebPDecodeRGBAInto(payload + 16, len - 16, rgba.data(), rgba.size(), static_cast<int>(fw * 4)) == nullptr) {
        ThrowCorrupt(name, "WebP: decoding the first animation frame failed");
      }
      for (int64_t r = 0; r < fh; ++r) {
        uint8_t* out = img.row(y + r) + x * 3;
        const uint8_t* in = rgba.data() + r * fw * 4;
        for (int64_t c = 0; c < fw; ++c) std::memcpy(out + c * 3, in + c * 4, 3);
      }
      return img;
    }
    pos += 8 + len + (len & 1);  // chunks are padded to even sizes
  }
  ThrowCorrupt(name, "WebP: animation has no frame");
}

}  // namespace

RgbImage DecodeWebp(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status != VP8_STATUS_OK) {
    ThrowCorrupt(name, "WebP: cannot read header (libwebp status " + std::to_string(static_cast<int>(status)) + ")");
  }
  if (features.has_animation) return DecodeAnimatedFirstFrame(data, size, name, limits);
  RgbImage img = AllocateImage(features.width, features.height, name, limits);
  const int stride = static_cast<int>(img.width * 3);
  if (WebPDecodeRGBInto(data, size, img.pixels.data(), img.pixels.size(), stride) == nullptr) {
    ThrowCorrupt(name, "WebP: decoding failed (corrupt or truncated data)");
  }
  return img;
}

}  // namespace dsvl::detail
