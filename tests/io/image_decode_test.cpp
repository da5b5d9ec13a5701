// Decoding the fixture images must give exactly what PIL's .convert('RGB') gave (*.decoded_rgb.png),
// and bad input must give a clear dsvl::Error, never a crash.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "io/image_decode.h"
#include "io/image_encode.h"
#include "npy.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

std::string ImagePath(const std::string& name) { return test::FixtureDir() + "/images/" + name; }

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Expects fn to throw dsvl::Error with `code` and a message containing `needle`.
template <typename Fn>
void ExpectError(Fn&& fn, ErrorCode code, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

void ExpectSameImage(const RgbImage& a, const RgbImage& b) {
  ASSERT_EQ(a.width, b.width);
  ASSERT_EQ(a.height, b.height);
  ASSERT_EQ(a.pixels.size(), b.pixels.size());
  size_t diffs = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) diffs += a.pixels[i] != b.pixels[i];
  EXPECT_EQ(diffs, 0u);
}

TEST(ImageDecode, FixturesMatchPilConvertRgb) {
  // JPEG (YCbCr 4:2:0 via libjpeg-turbo ISLOW), RGBA PNG (alpha dropped), grey PNG (replicated).
  for (const char* stem : {"A_640x480.jpg", "C_300x900.jpg", "E_256x192_rgba.png", "F_333x250_gray.png"}) {
    SCOPED_TRACE(stem);
    const std::string s = stem;
    const std::string ref = s.substr(0, s.rfind('.')) + ".decoded_rgb.png";
    const RgbImage got = DecodeImageFile(ImagePath(s));
    const RgbImage want = DecodeImageFile(ImagePath(ref));
    ExpectSameImage(got, want);
  }
}

TEST(ImageDecode, RgbFixturesDecodeWithDeclaredSize) {
  const RgbImage b = DecodeImageFile(ImagePath("B_1920x200.png"));
  EXPECT_EQ(b.width, 1920);
  EXPECT_EQ(b.height, 200);
  const RgbImage d = DecodeImageFile(ImagePath("D_17x23.png"));
  EXPECT_EQ(d.width, 17);
  EXPECT_EQ(d.height, 23);
  // Byte-level: decoding from memory and from a file agree, and a PNG rewrite round-trips.
  const std::vector<uint8_t> bytes = ReadBytes(ImagePath("D_17x23.png"));
  ExpectSameImage(DecodeImageBytes(bytes.data(), bytes.size(), "D"), d);
  const std::string out = (fs::temp_directory_path() / "dsvl_writepng_test.png").string();
  WritePng(out, b);
  ExpectSameImage(DecodeImageFile(out), b);
  std::remove(out.c_str());
}

TEST(ImageDecode, SniffsByMagicNotExtension) {
  const std::vector<uint8_t> jpg = ReadBytes(ImagePath("A_640x480.jpg"));
  EXPECT_EQ(SniffImageFormat(jpg.data(), jpg.size()), ImageFormat::kJpeg);
  const std::string renamed = (fs::temp_directory_path() / "dsvl_sniff_test.png").string();
  { std::ofstream(renamed, std::ios::binary).write(reinterpret_cast<const char*>(jpg.data()), jpg.size()); }
  ExpectSameImage(DecodeImageFile(renamed), DecodeImageFile(ImagePath("A_640x480.jpg")));
  std::remove(renamed.c_str());
}

TEST(ImageDecode, TruncatedJpegIsCorrupt) {
  std::vector<uint8_t> jpg = ReadBytes(ImagePath("A_640x480.jpg"));
  for (size_t keep : {jpg.size() / 2, size_t{200}, size_t{3}}) {
    SCOPED_TRACE(keep);
    ExpectError([&] { DecodeImageBytes(jpg.data(), keep, "cut.jpg"); }, ErrorCode::kCorruptData, "cut.jpg");
  }
}

TEST(ImageDecode, TruncatedPngIsCorrupt) {
  std::vector<uint8_t> png = ReadBytes(ImagePath("E_256x192_rgba.png"));
  for (size_t keep : {png.size() / 2, size_t{40}, size_t{8}}) {
    SCOPED_TRACE(keep);
    ExpectError([&] { DecodeImageBytes(png.data(), keep, "cut.png"); }, ErrorCode::kCorruptData, "cut.png");
  }
  // A flipped byte inside IDAT breaks the CRC or the zlib stream.
  png[png.size() / 2] ^= 0x5a;
  ExpectError([&] { DecodeImageBytes(png.data(), png.size(), "flip.png"); }, ErrorCode::kCorruptData, "flip.png");
}

TEST(ImageDecode, GarbageEmptyAndMissing) {
  const std::vector<uint8_t> garbage = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', 0, 1, 2};
  ExpectError([&] { DecodeImageBytes(garbage.data(), garbage.size(), "garbage.bin"); }, ErrorCode::kUnsupported,
              "garbage.bin");
  ExpectError([&] { DecodeImageBytes(garbage.data(), 0, "empty.png"); }, ErrorCode::kCorruptData, "empty.png");
  const std::string empty = (fs::temp_directory_path() / "dsvl_empty_test.jpg").string();
  { std::ofstream(empty, std::ios::binary); }
  ExpectError([&] { DecodeImageFile(empty); }, ErrorCode::kCorruptData, "dsvl_empty_test.jpg");
  std::remove(empty.c_str());
  ExpectError([&] { DecodeImageFile("/nonexistent/dir/x.png"); }, ErrorCode::kNotFound, "/nonexistent/dir/x.png");
  const std::string dir = fs::temp_directory_path().string();
  ExpectError([&] { DecodeImageFile(dir); }, ErrorCode::kInvalidArgument, dir);
  // Magic bytes alone, nothing after them.
  for (std::string head : {std::string("\xFF\xD8\xFF", 3), std::string("\x89PNG\r\n\x1a\n", 8),
                           std::string("RIFF\0\0\0\0WEBP", 12), std::string("GIF89a"), std::string("BM")}) {
    ExpectError([&] { DecodeImageBytes(reinterpret_cast<const uint8_t*>(head.data()), head.size(), "head"); },
                ErrorCode::kCorruptData, "head");
  }
}

uint32_t Crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

TEST(ImageDecode, HugeDeclaredDimensionsHitTheLimit) {
  // PNG: rewrite IHDR to 60000 x 60000 (valid CRC) - must fail before any allocation.
  std::vector<uint8_t> png = ReadBytes(ImagePath("D_17x23.png"));
  PutBe32(&png[16], 60000);
  PutBe32(&png[20], 60000);
  PutBe32(&png[29], Crc32(&png[12], 17));
  ExpectError([&] { DecodeImageBytes(png.data(), png.size(), "huge.png"); }, ErrorCode::kLimitExceeded, "huge.png");
  // JPEG: patch the SOF0 height/width to 60000.
  std::vector<uint8_t> jpg = ReadBytes(ImagePath("C_300x900.jpg"));
  bool patched = false;
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) {
      jpg[i + 5] = 0xEA, jpg[i + 6] = 0x60, jpg[i + 7] = 0xEA, jpg[i + 8] = 0x60;
      patched = true;
      break;
    }
  }
  ASSERT_TRUE(patched);
  ExpectError([&] { DecodeImageBytes(jpg.data(), jpg.size(), "huge.jpg"); }, ErrorCode::kLimitExceeded, "huge.jpg");
  // BMP header declaring 50000 x 50000, 24 bpp, with no pixel data.
  std::vector<uint8_t> bmp(54, 0);
  bmp[0] = 'B', bmp[1] = 'M', bmp[10] = 54, bmp[14] = 40;
  bmp[18] = 0x50, bmp[19] = 0xC3, bmp[22] = 0x50, bmp[23] = 0xC3, bmp[26] = 1, bmp[28] = 24;
  ExpectError([&] { DecodeImageBytes(bmp.data(), bmp.size(), "huge.bmp"); }, ErrorCode::kLimitExceeded, "huge.bmp");
  // Configured limits apply too.
  ImageLimits small;
  small.max_pixels = 100;
  ExpectError([&] { DecodeImageFile(ImagePath("D_17x23.png"), small); }, ErrorCode::kLimitExceeded, "D_17x23.png");
  ImageLimits tiny_file;
  tiny_file.max_file_bytes = 10;
  ExpectError([&] { DecodeImageFile(ImagePath("D_17x23.png"), tiny_file); }, ErrorCode::kLimitExceeded, "file size");
}

}  // namespace
}  // namespace dsvl

namespace dsvl {
namespace {

// Deterministic byte flips and truncations of every fixture input: decoding must either succeed or
// throw dsvl::Error (run under ASan/UBSan via DSVL_SANITIZE to catch memory errors too).
TEST(ImageDecode, RandomCorruptionOnlyThrowsDsvlErrors) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  int errors = 0, decoded = 0;
  for (const char* name : {"A_640x480.jpg", "C_300x900.jpg", "D_17x23.png", "E_256x192_rgba.png",
                           "F_333x250_gray.png"}) {
    const std::vector<uint8_t> orig = ReadBytes(ImagePath(name));
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<uint8_t> b = orig;
      const int flips = 1 + static_cast<int>(next() % 8);
      for (int f = 0; f < flips; ++f) b[next() % b.size()] = static_cast<uint8_t>(next());
      if (trial % 3 == 0) b.resize(1 + next() % b.size());
      try {
        const RgbImage img = DecodeImageBytes(b.data(), b.size(), name);
        EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width * img.height * 3));
        ++decoded;
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(errors + decoded, 200);
}

}  // namespace
}  // namespace dsvl
