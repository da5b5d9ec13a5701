// BMP reader (no library): core (12-byte) and info (40/52/56/108/124-byte) headers, 1/4/8-bit
// palettes, 16-bit (5-5-5, or BI_BITFIELDS 5-6-5 / 5-5-5), 24-bit, 32-bit (BI_RGB or BI_BITFIELDS with
// byte-aligned masks); bottom-up or top-down. RLE compression is rejected as unsupported.
// Channel expansion as Pillow's unpackers: 5-bit v -> v * 255 / 31, 6-bit v -> v * 255 / 63.
#include <cstring>

#include "dsvl/error.h"
#include "io/image_decode_internal.h"

namespace dsvl::detail {
namespace {

uint32_t U16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t U32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

int MaskShift(uint32_t mask) {
  int s = 0;
  while (s < 32 && !((mask >> s) & 1)) ++s;
  return s;
}
int MaskBits(uint32_t mask) {
  int n = 0;
  for (; mask; mask >>= 1) n += mask & 1;
  return n;
}

}  // namespace

RgbImage DecodeBmp(const uint8_t* d, size_t size, const std::string& name, const ImageLimits& limits) {
  if (size < 26) ThrowCorrupt(name, "BMP: file shorter than its headers");
  const uint32_t data_offset = U32(d + 10);
  const uint32_t header_size = U32(d + 14);
  if (header_size != 12 && header_size < 40) ThrowCorrupt(name, "BMP: unknown header size " + std::to_string(header_size));
  if (14 + static_cast<size_t>(header_size) > size) ThrowCorrupt(name, "BMP: truncated header");
  const uint8_t* h = d + 14;
  int64_t width, height;
  int bpp;
  uint32_t compression = 0, colors_used = 0;
  if (header_size == 12) {
    width = U16(h + 4);
    height = static_cast<int16_t>(U16(h + 6));
    bpp = static_cast<int>(U16(h + 10));
  } else {
    width = static_cast<int32_t>(U32(h + 4));
    height = static_cast<int32_t>(U32(h + 8));
    bpp = static_cast<int>(U16(h + 14));
    compression = U32(h + 16);
    colors_used = U32(h + 32);
  }
  const bool top_down = height < 0;
  if (top_down) height = -height;
  CheckImageSize(width, height, name, limits);

  constexpr uint32_t kRgb = 0, kBitfields = 3;
  uint32_t masks[3] = {0, 0, 0};  // r, g, b
  if (compression == kBitfields && (bpp == 16 || bpp == 32)) {
    // Masks follow a 40-byte header, or sit inside the V2+ headers at the same place.
    if (14 + 40 + 12 > static_cast<size_t>(size)) ThrowCorrupt(name, "BMP: truncated bit masks");
    for (int i = 0; i < 3; ++i) masks[i] = U32(h + 40 + 4 * i);
  } else if (compression != kRgb) {
    Throw(ErrorCode::kUnsupported, ErrorContext{name, "BMP compression", "BI_RGB or BI_BITFIELDS",
                                                std::to_string(compression), ""});
  } else if (bpp == 16) {
    masks[0] = 0x7c00, masks[1] = 0x03e0, masks[2] = 0x001f;
  } else if (bpp == 32) {
    masks[0] = 0xff0000, masks[1] = 0xff00, masks[2] = 0xff;
  }
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) {
    Throw(ErrorCode::kUnsupported, ErrorContext{name, "BMP bits per pixel", "1, 4, 8, 16, 24 or 32", std::to_string(bpp), ""});
  }

  Palette palette;
  if (bpp <= 8) {
    const int entry = header_size == 12 ? 3 : 4;  // BGR or BGRX
    const size_t max_colors = size_t{1} << bpp;
    size_t n = colors_used == 0 ? max_colors : std::min<size_t>(colors_used, max_colors);
    const size_t pal_off = 14 + static_cast<size_t>(header_size);
    if (pal_off + n * entry > size) ThrowCorrupt(name, "BMP: truncated palette");
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* e = d + pal_off + i * entry;
      palette.rgb[i * 3 + 0] = e[2];
      palette.rgb[i * 3 + 1] = e[1];
      palette.rgb[i * 3 + 2] = e[0];
    }
  }

  const uint64_t stride = ((static_cast<uint64_t>(bpp) * static_cast<uint64_t>(width) + 31) / 32) * 4;
  if (data_offset > size || stride * static_cast<uint64_t>(height) > size - data_offset) {
    ThrowCorrupt(name, "BMP: pixel data truncated (need " + std::to_string(stride * height) + " bytes at offset " +
                           std::to_string(data_offset) + ", file has " + std::to_string(size) + ")");
  }
  if (bpp == 16 || bpp == 32) {
    for (uint32_t m : masks) {
      const int bits = MaskBits(m);
      if (bits == 0 || bits > 8 || (bpp == 32 && bits != 8)) {
        Throw(ErrorCode::kUnsupported, ErrorContext{name, "BMP bit masks", "5/6-bit (16 bpp) or 8-bit (32 bpp) channels", "other masks", ""});
      }
    }
  }

  RgbImage img = AllocateImage(width, height, name, limits);
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* in = d + data_offset + stride * static_cast<uint64_t>(top_down ? y : height - 1 - y);
    uint8_t* out = img.row(y);
    for (int64_t x = 0; x < width; ++x) {
      uint8_t* o = out + x * 3;
      if (bpp <= 8) {
        const int per_byte = 8 / bpp;
        const int shift = 8 - bpp * (1 + static_cast<int>(x % per_byte));
        const int idx = (in[x / per_byte] >> shift) & ((1 << bpp) - 1);
        std::memcpy(o, &palette.rgb[idx * 3], 3);
      } else if (bpp == 24) {
        o[0] = in[x * 3 + 2], o[1] = in[x * 3 + 1], o[2] = in[x * 3 + 0];
      } else {
        const uint32_t px = bpp == 16 ? U16(in + x * 2) : U32(in + x * 4);
        for (int c = 0; c < 3; ++c) {
          const uint32_t v = (px & masks[c]) >> MaskShift(masks[c]);
          const uint32_t max = (1u << MaskBits(masks[c])) - 1;
          o[c] = static_cast<uint8_t>(max == 255 ? v : v * 255 / max);
        }
      }
    }
  }
  return img;
}

}  // namespace dsvl::detail
