// Images as Pillow 9.4 sees them (docs/image-decoding.md): the files in tests/data/hostile were made
// by make_hostile.py there and each was opened with Pillow's Image.open(f).convert('RGB'). Every file
// Pillow refuses must be refused with the exact error below; every file Pillow accepts must decode
// to exactly Pillow's pixels (<name>.pillow_rgb.png). Header-declared sizes beyond the pixel limit
// are refused from the header, before any pixel buffer is allocated.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "error_code.h"
#include "io/image_decode.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using test::CodeOf;

fs::path Hostile(const std::string& name) { return fs::path(DSVL_TEST_DATA_DIR) / "hostile" / name; }

std::vector<uint8_t> ReadBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in) << p;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Refused {
  const char* file;
  ErrorCode code;
  const char* message;  // after "<file>: "
};

// What Pillow raises for each is noted; docs/image-decoding.md has the table.
const Refused kRefused[] = {
    // Pillow: "image file is truncated" (libjpeg would pad the rest with grey).
    {"jpeg_truncated.jpg", ErrorCode::kCorruptData, "JPEG: Premature end of JPEG file"},
    {"jpeg_no_eoi.jpg", ErrorCode::kCorruptData, "JPEG: Premature end of JPEG file"},
    // Pillow: "broken data stream when reading image file".
    {"jpeg_bad_marker_in_scan.jpg", ErrorCode::kCorruptData, "JPEG: Invalid JPEG file structure: two SOF markers"},
    // Pillow: "cannot identify image file" (bad checksum before the image data).
    {"png_bad_crc_ihdr.png", ErrorCode::kCorruptData, "PNG: IHDR: CRC error"},
    {"png_bad_crc_ancillary_before_idat.png", ErrorCode::kCorruptData, "PNG: gAMA: CRC error"},
    // Pillow: "image file is truncated".
    {"png_truncated_idat.png", ErrorCode::kCorruptData, "PNG: unexpected end of data (truncated file)"},
    {"png_short_idat_stream.png", ErrorCode::kCorruptData, "PNG: Not enough image data"},
    // Pillow: "broken data stream when reading image file" (zlib error, zlib checksum).
    {"png_corrupt_zlib.png", ErrorCode::kCorruptData, "PNG: IDAT: invalid code lengths set"},
    {"png_bad_adler32.png", ErrorCode::kCorruptData, "PNG: IDAT: incorrect data check"},
    // Pillow: "image file is truncated".
    {"gif_truncated.gif", ErrorCode::kCorruptData, "GIF: Failed to read from given file"},
    // Pillow: "could not create decoder object".
    {"webp_truncated.webp", ErrorCode::kCorruptData, "WebP: decoding failed (corrupt or truncated data)"},
    {"webp_lossless_truncated.webp", ErrorCode::kCorruptData, "WebP: decoding failed (corrupt or truncated data)"},
    // Pillow: "image file is truncated" / "Unsupported BMP header type (7)".
    {"bmp_truncated.bmp", ErrorCode::kCorruptData,
     "BMP: pixel data truncated (need 4608 bytes at offset 54, file has 2331)"},
    {"bmp_bad_offset.bmp", ErrorCode::kCorruptData,
     "BMP: pixel data truncated (need 4608 bytes at offset 5662, file has 4662)"},
    {"bmp_bad_header.bmp", ErrorCode::kCorruptData, "BMP: unknown header size 7"},
    // Pillow: DecompressionBombError. dsvl refuses above its max_image_pixels limit (Pillow's
    // MAX_IMAGE_PIXELS), from the header.
    {"png_huge_dims.png", ErrorCode::kLimitExceeded,
     "image size: expected at most 89478485 pixels, got 100000x100000: (limit max_image_pixels, checked before "
     "decoding; see docs/limits.md)"},
    {"jpeg_huge_dims.jpg", ErrorCode::kLimitExceeded,
     "image size: expected at most 89478485 pixels, got 60000x60000: (limit max_image_pixels, checked before "
     "decoding; see docs/limits.md)"},
    {"gif_huge_dims.gif", ErrorCode::kLimitExceeded,
     "image size: expected at most 89478485 pixels, got 65535x65535: (limit max_image_pixels, checked before "
     "decoding; see docs/limits.md)"},
    {"webp_huge_dims.webp", ErrorCode::kLimitExceeded,
     "image size: expected at most 89478485 pixels, got 16384x16384: (limit max_image_pixels, checked before "
     "decoding; see docs/limits.md)"},
};

TEST(HostileImages, FilesPillowRefusesAreRefusedWithAClearError) {
  for (const Refused& r : kRefused) {
    SCOPED_TRACE(r.file);
    const std::vector<uint8_t> bytes = ReadBytes(Hostile(r.file));
    ASSERT_FALSE(bytes.empty());
    std::string what;
    EXPECT_EQ(CodeOf([&] { DecodeImageBytes(bytes.data(), bytes.size(), r.file); }, &what), r.code) << what;
    EXPECT_EQ(what, std::string(r.file) + ": " + r.message);
    // The file path gives the same error, naming the path.
    const std::string path = Hostile(r.file).string();
    EXPECT_EQ(CodeOf([&] { DecodeImageFile(path); }, &what), r.code);
    EXPECT_EQ(what, path + ": " + r.message);
  }
}

// Pillow loads these (it checks no CRC from the first IDAT on, ignores what follows the image data
// and libjpeg's corrupt-data warnings); dsvl must give the same pixels.
TEST(HostileImages, FilesPillowAcceptsDecodeToPillowsPixels) {
  for (const char* file : {"jpeg_corrupt_entropy.jpg", "png_bad_crc_idat.png", "png_bad_crc_second_idat.png",
                           "png_bad_crc_iend.png", "png_bad_crc_text_after_idat.png", "png_no_iend.png",
                           "png_trailing_garbage.png", "gif_no_trailer.gif"}) {
    SCOPED_TRACE(file);
    const std::string stem = fs::path(file).stem().string();
    RgbImage got, want;
    ASSERT_EQ(CodeOf([&] { got = DecodeImageFile(Hostile(file).string()); }), ErrorCode::kOk);
    ASSERT_EQ(CodeOf([&] { want = DecodeImageFile(Hostile(stem + ".pillow_rgb.png").string()); }), ErrorCode::kOk);
    EXPECT_EQ(got.width, want.width);
    EXPECT_EQ(got.height, want.height);
    EXPECT_TRUE(got.pixels == want.pixels);
  }
}

// A header claiming 100000 x 100000 pixels (30 GB of RGB) is refused with the limit error from the
// header (the limit check precedes every pixel allocation); the limits are the caller's to set.
TEST(HostileImages, HugeHeaderIsRefusedBeforeAllocation) {
  const std::vector<uint8_t> png = ReadBytes(Hostile("png_huge_dims.png"));
  ImageLimits limits;
  EXPECT_EQ(CodeOf([&] { DecodeImageBytes(png.data(), png.size(), "huge.png", limits); }), ErrorCode::kLimitExceeded);
  limits.max_pixels = 100;  // a caller's lower limit applies to ordinary files too
  const std::vector<uint8_t> ok = ReadBytes(Hostile("png_no_iend.png"));  // 48 x 32
  std::string what;
  EXPECT_EQ(CodeOf([&] { DecodeImageBytes(ok.data(), ok.size(), "small.png", limits); }, &what),
            ErrorCode::kLimitExceeded);
  EXPECT_NE(what.find("expected at most 100 pixels, got 48x32"), std::string::npos) << what;
  limits.max_file_bytes = 100;
  EXPECT_EQ(CodeOf([&] { DecodeImageBytes(ok.data(), ok.size(), "small.png", limits); }, &what),
            ErrorCode::kLimitExceeded);
  EXPECT_NE(what.find("file size: expected at most 100 bytes"), std::string::npos) << what;
}

}  // namespace
}  // namespace dsvl
