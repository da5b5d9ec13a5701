// Every image decoder (JPEG, PNG, WebP, GIF, BMP) through the public path, DecodeImageBytes, which
// picks the decoder from the magic bytes as DecodeImageFile does. The pixel limit is lowered to
// 4 Mpixel so an input declaring a huge canvas costs milliseconds, not the 268 MB a default-limit
// image may legitimately take; the limit check itself is the same code either way.
#include "dsvl/error.h"
#include "fuzz_util.h"
#include "io/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dsvl::ImageLimits limits;
  limits.max_pixels = int64_t{1} << 22;
  try {
    const dsvl::RgbImage img = dsvl::DecodeImageBytes(data, size, "fuzz-input", limits);
    // The decoders promise a complete RGB buffer of the declared size.
    if (img.width <= 0 || img.height <= 0 ||
        img.pixels.size() != static_cast<size_t>(img.width * img.height * 3)) {
      __builtin_trap();
    }
    unsigned sum = 0;
    for (uint8_t v : img.pixels) sum += v;  // uninitialised or freed pixels: MSan/ASan would see it
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
  }
  return 0;
}
