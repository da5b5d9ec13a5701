// PNG via libpng. libpng reports errors by longjmp to png_jmpbuf; as for JPEG the setjmp lives in a
// function (RunPng) with only trivially destructible locals, and its output buffer belongs to the
// caller. Pixel conversion follows Pillow's PNG modes + convert('RGB'):
//   grey 1/2/4 bit -> scaled to 0..255 ("1", "L;2", "L;4"); grey 16 -> mode "I", clipped to 255;
//   other 16-bit types -> high byte ("RGB;16B", "LA;16B", ...); alpha and tRNS ignored;
//   palette -> PLTE entries, the rest of the 256 entries a grey ramp.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <png.h>

#include "core/aligned_alloc.h"
#include "dsvl/error.h"
#include "io/image_decode_internal.h"

namespace dsvl::detail {
namespace {

struct PngReader {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[256];
};

void ReadBytes(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "unexpected end of data (truncated file)");
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

void OnPngError(png_structp png, png_const_charp msg) {
  auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof(r->message), "%s", msg);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}  // ancillary-chunk problems: Pillow ignores them too

enum class PngStatus { kOk, kError, kTooLarge, kNoMemory };

struct PngJob {
  PngReader reader;
  int64_t max_pixels;
  std::vector<uint8_t>* raw;  // rows after the libpng transforms below, owned by the caller
  uint32_t width = 0, height = 0;
  int color_type = 0, bit_depth = 0;
  size_t rowbytes = 0;
  bool image_done = false;
  Palette* palette;
};

bool Resize(std::vector<uint8_t>* v, size_t n) noexcept {
  try {
    v->resize(n);
    return true;
  } catch (...) {
    return false;
  }
}

PngStatus RunPng(PngJob* job) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job->reader, OnPngError, OnPngWarning);
  if (png == nullptr) return PngStatus::kNoMemory;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return PngStatus::kNoMemory;
  }
  // malloc'd so nothing with a destructor lives across setjmp; volatile as it changes after setjmp.
  png_bytep* volatile rows = nullptr;
  if (setjmp(png_jmpbuf(png))) {
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    // Pillow stops at the end of the image data and ignores trouble in the chunks after it.
    return job->image_done ? PngStatus::kOk : PngStatus::kError;
  }
  png_set_read_fn(png, &job->reader, ReadBytes);
  // Checksums as Pillow 9.4 checks them: PngImageFile._open verifies the CRC of every chunk before
  // the first IDAT, ancillary ones included (a mismatch is "cannot identify image file"), while
  // the image data and the chunks after it are read without CRC checks (only zlib's own adler32 of
  // the image data is verified). libpng by default only warns about a bad ancillary CRC and fails
  // on a bad IDAT CRC, so both actions are set to Pillow's around png_read_info.
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
  png_uint_32 w = 0, h = 0;
  int interlace = 0;
  png_get_IHDR(png, info, &w, &h, &job->bit_depth, &job->color_type, &interlace, nullptr, nullptr);
  job->width = w;
  job->height = h;
  if (w == 0 || h == 0 || static_cast<int64_t>(w) > job->max_pixels ||
      static_cast<int64_t>(h) > job->max_pixels / static_cast<int64_t>(w)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return PngStatus::kTooLarge;
  }
  if (job->color_type == PNG_COLOR_TYPE_PALETTE) {
    png_colorp plte = nullptr;
    int n = 0;
    if (png_get_PLTE(png, info, &plte, &n) & PNG_INFO_PLTE) {
      for (int i = 0; i < n && i < 256; ++i) {
        job->palette->rgb[i * 3 + 0] = plte[i].red;
        job->palette->rgb[i * 3 + 1] = plte[i].green;
        job->palette->rgb[i * 3 + 2] = plte[i].blue;
      }
    }
  }
  if (job->bit_depth == 16 && job->color_type != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);  // high byte
  if (job->color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (job->bit_depth < 8) png_set_packing(png);  // one sample per byte, values unscaled
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  job->rowbytes = png_get_rowbytes(png, info);
  rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * h));
  if (rows == nullptr || !Resize(job->raw, job->rowbytes * h)) {
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return PngStatus::kNoMemory;
  }
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = job->raw->data() + job->rowbytes * y;
  png_read_image(png, rows);
  job->image_done = true;
  png_read_end(png, nullptr);
  std::free(rows);
  png_destroy_read_struct(&png, &info, nullptr);
  return PngStatus::kOk;
}

}  // namespace

RgbImage DecodePng(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits) {
  std::vector<uint8_t> raw;
  Palette palette;
  PngJob job{PngReader{data, size, 0, {0}}, limits.max_pixels, &raw, 0, 0, 0, 0, 0, false, &palette};
  switch (RunPng(&job)) {
    case PngStatus::kOk: break;
    case PngStatus::kError: ThrowCorrupt(name, std::string("PNG: ") + job.reader.message);
    case PngStatus::kNoMemory: ThrowOutOfMemory(name + ": PNG rows", job.rowbytes * job.height);
    case PngStatus::kTooLarge: CheckImageSize(job.width, job.height, name, limits); break;
  }
  RgbImage img = AllocateImage(job.width, job.height, name, limits);
  const int64_t w = img.width;
  for (int64_t y = 0; y < img.height; ++y) {
    const uint8_t* in = raw.data() + job.rowbytes * y;
    uint8_t* out = img.row(y);
    switch (job.color_type) {
      case PNG_COLOR_TYPE_RGB:
      case PNG_COLOR_TYPE_RGB_ALPHA:
        std::memcpy(out, in, static_cast<size_t>(w * 3));
        break;
      case PNG_COLOR_TYPE_PALETTE:
        for (int64_t x = 0; x < w; ++x) std::memcpy(out + x * 3, &palette.rgb[in[x] * 3], 3);
        break;
      case PNG_COLOR_TYPE_GRAY:
      case PNG_COLOR_TYPE_GRAY_ALPHA:
        for (int64_t x = 0; x < w; ++x) {
          int v;
          if (job.bit_depth == 16 && job.color_type == PNG_COLOR_TYPE_GRAY) {
            v = (in[x * 2] << 8) | in[x * 2 + 1];  // big-endian sample; "I" -> "RGB" clips
            v = v > 255 ? 255 : v;
          } else if (job.bit_depth == 1) {
            v = in[x] ? 255 : 0;
          } else if (job.bit_depth == 2) {
            v = in[x] * 0x55;
          } else if (job.bit_depth == 4) {
            v = in[x] * 0x11;
          } else {
            v = in[x];
          }
          out[x * 3] = out[x * 3 + 1] = out[x * 3 + 2] = static_cast<uint8_t>(v);
        }
        break;
      default:
        ThrowCorrupt(name, "PNG: unknown colour type " + std::to_string(job.color_type));
    }
  }
  return img;
}

}  // namespace dsvl::detail
