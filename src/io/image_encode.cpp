#include "io/image_encode.h"

#include <csetjmp>
#include <cstdio>
#include <vector>

#include <png.h>

#include "dsvl/error.h"

namespace dsvl {
namespace {

struct PngWriteState {
  std::FILE* file;
  char message[256];
};

void OnError(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngWriteState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg);
  png_longjmp(png, 1);
}
void OnWarning(png_structp, png_const_charp) {}

// Only trivially destructible locals live across setjmp. Returns false with state->message set.
bool RunWrite(PngWriteState* state, const RgbImage& img, png_bytep* rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, state, OnError, OnWarning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, state->file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(img.width), static_cast<png_uint_32>(img.height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

void WritePng(const std::string& path, const RgbImage& img) {
  if (img.width <= 0 || img.height <= 0 || img.pixels.size() != static_cast<size_t>(img.width * img.height * 3)) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{path, "image", "non-empty RGB image with matching pixel buffer",
                                                    std::to_string(img.width) + "x" + std::to_string(img.height), ""});
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "cannot open for writing"});
  std::vector<png_bytep> rows(static_cast<size_t>(img.height));
  for (int64_t y = 0; y < img.height; ++y) rows[y] = const_cast<png_bytep>(img.row(y));
  PngWriteState state{f, {0}};
  const bool ok = RunWrite(&state, img, rows.data());
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", std::string("PNG write failed: ") +
                                                             (ok ? "close failed" : state.message)});
  }
}

}  // namespace dsvl
