// JPEG via libjpeg(-turbo) with default settings (ISLOW IDCT, fancy upsampling), as Pillow's decoder.
// libjpeg reports errors through error_exit, which must not return: we longjmp back into RunJpeg, a
// function whose frame holds only trivially destructible state, and turn the failure into a
// dsvl::Error after libjpeg is torn down.
#include <csetjmp>
#include <cstdio>
#include <new>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "core/aligned_alloc.h"
#include "dsvl/error.h"
#include "io/image_decode_internal.h"

namespace dsvl::detail {
namespace {

struct JpegErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnJpegError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void OnJpegMessage(j_common_ptr cinfo, int level) {
  // Premature end of data: libjpeg would pad with grey and carry on, Pillow reports a truncated file.
  // Other warnings (extraneous bytes, ...) are ignored by Pillow too.
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) OnJpegError(cinfo);
}

enum class JpegStatus { kOk, kError, kTooLarge, kNoMemory, kUnsupported };

struct JpegJob {
  const uint8_t* data;
  size_t size;
  int64_t max_pixels;
  std::vector<uint8_t>* raw;  // owned by the caller's frame, so longjmp never skips its destructor
  int width = 0, height = 0, components = 0;
  char message[JMSG_LENGTH_MAX] = {0};
};

bool Resize(std::vector<uint8_t>* v, size_t n) noexcept {
  try {
    v->resize(n);
    return true;
  } catch (...) {
    return false;
  }
}

JpegStatus RunJpeg(JpegJob* job) {
  jpeg_decompress_struct cinfo;
  JpegErrorMgr err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnJpegError;
  err.pub.emit_message = OnJpegMessage;
  if (setjmp(err.jump)) {
    std::snprintf(job->message, sizeof(job->message), "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::kError;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, job->data, static_cast<unsigned long>(job->size));
  jpeg_read_header(&cinfo, TRUE);
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
    default:
      jpeg_destroy_decompress(&cinfo);
      return JpegStatus::kUnsupported;
  }
  job->width = static_cast<int>(cinfo.image_width);
  job->height = static_cast<int>(cinfo.image_height);
  if (job->width <= 0 || job->height <= 0 || job->width > job->max_pixels ||
      job->height > job->max_pixels / job->width) {
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::kTooLarge;
  }
  jpeg_start_decompress(&cinfo);
  job->components = cinfo.output_components;
  const size_t stride = static_cast<size_t>(cinfo.output_width) * cinfo.output_components;
  if (!Resize(job->raw, stride * cinfo.output_height)) {
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::kNoMemory;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = job->raw->data() + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return JpegStatus::kOk;
}

// Pillow: unpack "CMYK;I" inverts every component, then cmyk2rgb computes
// R = clip(nk - c * nk / 255) with nk = 255 - k and a rounded integer division by 255.
inline uint8_t CmykChannel(uint8_t raw_c, uint8_t raw_k) {
  const int c = 255 - raw_c;
  const int nk = raw_k;  // 255 - (255 - raw_k)
  const int t = c * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

RgbImage DecodeJpeg(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits) {
  std::vector<uint8_t> raw;
  JpegJob job{data, size, limits.max_pixels, &raw};
  switch (RunJpeg(&job)) {
    case JpegStatus::kOk: break;
    case JpegStatus::kError: ThrowCorrupt(name, std::string("JPEG: ") + job.message);
    case JpegStatus::kUnsupported:
      Throw(ErrorCode::kUnsupported, ErrorContext{name, "JPEG colour space", "grey, YCbCr, RGB, CMYK or YCCK", "other", ""});
    case JpegStatus::kNoMemory:
      ThrowOutOfMemory(name + ": JPEG scanlines", static_cast<size_t>(job.width) * static_cast<size_t>(job.height) * 4);
    case JpegStatus::kTooLarge: CheckImageSize(job.width, job.height, name, limits); break;
  }
  RgbImage img = AllocateImage(job.width, job.height, name, limits);
  const int64_t n = img.width * img.height;
  uint8_t* out = img.pixels.data();
  const uint8_t* in = raw.data();
  if (job.components == 3) {
    img.pixels.swap(raw);
  } else if (job.components == 1) {
    for (int64_t i = 0; i < n; ++i) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = in[i];
  } else if (job.components == 4) {
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = in + i * 4;
      for (int c = 0; c < 3; ++c) out[i * 3 + c] = CmykChannel(p[c], p[3]);
    }
  } else {
    ThrowCorrupt(name, "JPEG: unexpected component count " + std::to_string(job.components));
  }
  return img;
}

}  // namespace dsvl::detail
