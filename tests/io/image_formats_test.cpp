// Synthetic files in every supported layout, written here with the format libraries (or by hand for
// BMP), must decode to the RGB that Pillow's convert('RGB') defines for them.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gif_lib.h>
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

#include "dsvl/error.h"
#include "io/image_decode.h"

namespace dsvl {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- PNG writer (libpng to memory) ----
void PngWriteCb(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}
void PngFlushCb(png_structp) {}

struct PngSpec {
  int w = 0, h = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  bool interlace = false;
  std::vector<png_color> palette;
  std::vector<uint8_t> trns;
};

// rows: packed raw rows exactly as the PNG stores them.
Bytes WritePngBytes(const PngSpec& s, const std::vector<Bytes>& rows) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    ADD_FAILURE() << "libpng write failed";
    return {};
  }
  png_set_write_fn(png, &out, PngWriteCb, PngFlushCb);
  png_set_check_for_invalid_index(png, 0);  // the palette test writes an index past PLTE on purpose
  png_set_IHDR(png, info, s.w, s.h, s.bit_depth, s.color_type,
               s.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!s.palette.empty()) png_set_PLTE(png, info, s.palette.data(), static_cast<int>(s.palette.size()));
  if (!s.trns.empty()) png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()), nullptr);
  png_write_info(png, info);
  std::vector<png_bytep> ptrs;
  for (const Bytes& r : rows) ptrs.push_back(const_cast<png_bytep>(r.data()));
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

RgbImage Decode(const Bytes& b, const char* name) { return DecodeImageBytes(b.data(), b.size(), name); }

void ExpectPixel(const RgbImage& img, int x, int y, int r, int g, int b) {
  const uint8_t* p = img.row(y) + x * 3;
  EXPECT_EQ(p[0], r) << "(" << x << "," << y << ")";
  EXPECT_EQ(p[1], g) << "(" << x << "," << y << ")";
  EXPECT_EQ(p[2], b) << "(" << x << "," << y << ")";
}

TEST(ImageFormats, PngPaletteWithShortPlteAndTrns) {
  PngSpec s;
  s.w = 4, s.h = 2, s.color_type = PNG_COLOR_TYPE_PALETTE;
  s.palette = {{10, 20, 30}, {200, 100, 50}, {1, 2, 3}};
  s.trns = {0, 128};  // ignored by convert('RGB')
  // Index 7 is beyond the 3 PLTE entries: Pillow's palette keeps its grey ramp there.
  const RgbImage img = Decode(WritePngBytes(s, {{0, 1, 2, 1}, {2, 0, 7, 0}}), "pal.png");
  ASSERT_EQ(img.width, 4);
  ExpectPixel(img, 0, 0, 10, 20, 30);
  ExpectPixel(img, 1, 0, 200, 100, 50);
  ExpectPixel(img, 2, 0, 1, 2, 3);
  ExpectPixel(img, 2, 1, 7, 7, 7);
}

TEST(ImageFormats, PngPalette4Bit) {
  PngSpec s;
  s.w = 3, s.h = 1, s.bit_depth = 4, s.color_type = PNG_COLOR_TYPE_PALETTE;
  s.palette.resize(16);
  for (int i = 0; i < 16; ++i) s.palette[i] = {static_cast<png_byte>(i * 10), static_cast<png_byte>(255 - i), 9};
  const RgbImage img = Decode(WritePngBytes(s, {{0x5F, 0x30}}), "pal4.png");  // indices 5, 15, 3
  ExpectPixel(img, 0, 0, 50, 250, 9);
  ExpectPixel(img, 1, 0, 150, 240, 9);
  ExpectPixel(img, 2, 0, 30, 252, 9);
}

TEST(ImageFormats, PngGreyDepthsScaleLikePillow) {
  PngSpec s;
  s.w = 4, s.h = 1, s.color_type = PNG_COLOR_TYPE_GRAY;
  s.bit_depth = 1;  // mode "1": 0 / 255
  RgbImage img = Decode(WritePngBytes(s, {{0xA0}}), "g1.png");
  ExpectPixel(img, 0, 0, 255, 255, 255);
  ExpectPixel(img, 1, 0, 0, 0, 0);
  s.bit_depth = 2;  // "L;2": v * 0x55
  img = Decode(WritePngBytes(s, {{0x1B}}), "g2.png");  // 0,1,2,3
  ExpectPixel(img, 1, 0, 85, 85, 85);
  ExpectPixel(img, 3, 0, 255, 255, 255);
  s.bit_depth = 4;  // "L;4": v * 0x11
  img = Decode(WritePngBytes(s, {{0x3F, 0x80}}), "g4.png");
  ExpectPixel(img, 0, 0, 51, 51, 51);
  ExpectPixel(img, 2, 0, 136, 136, 136);
  s.bit_depth = 8;
  img = Decode(WritePngBytes(s, {{0, 77, 200, 255}}), "g8.png");
  ExpectPixel(img, 1, 0, 77, 77, 77);
  // 16-bit grey is Pillow mode "I"; "I" -> "RGB" clips at 255 rather than taking the high byte.
  s.bit_depth = 16;
  img = Decode(WritePngBytes(s, {{0x00, 0x64, 0x00, 0xFF, 0x01, 0x00, 0xFF, 0xFF}}), "g16.png");
  ExpectPixel(img, 0, 0, 100, 100, 100);
  ExpectPixel(img, 1, 0, 255, 255, 255);
  ExpectPixel(img, 2, 0, 255, 255, 255);
}

TEST(ImageFormats, Png16BitColourAndAlphaKeepHighByteDropAlpha) {
  PngSpec s;
  s.w = 2, s.h = 1, s.bit_depth = 16, s.color_type = PNG_COLOR_TYPE_RGB;
  RgbImage img = Decode(WritePngBytes(s, {{0x12, 0xFF, 0x80, 0x01, 0xFF, 0x00, 0, 0, 1, 0, 2, 0x80}}), "rgb16.png");
  ExpectPixel(img, 0, 0, 0x12, 0x80, 0xFF);
  ExpectPixel(img, 1, 0, 0, 1, 2);
  s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  img = Decode(WritePngBytes(s, {{1, 9, 2, 9, 3, 9, 0, 0, 4, 0, 5, 0, 6, 0, 0, 0}}), "rgba16.png");
  ExpectPixel(img, 0, 0, 1, 2, 3);
  ExpectPixel(img, 1, 0, 4, 5, 6);  // alpha 0 yet colour kept: no compositing
  s.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  img = Decode(WritePngBytes(s, {{0xAB, 0xCD, 0, 0, 0x01, 0x00, 0xFF, 0xFF}}), "la16.png");
  ExpectPixel(img, 0, 0, 0xAB, 0xAB, 0xAB);
  ExpectPixel(img, 1, 0, 1, 1, 1);
  s.bit_depth = 8;
  img = Decode(WritePngBytes(s, {{9, 0, 250, 255}}), "la8.png");
  ExpectPixel(img, 0, 0, 9, 9, 9);
  ExpectPixel(img, 1, 0, 250, 250, 250);
}

TEST(ImageFormats, PngInterlacedEqualsPlain) {
  PngSpec s;
  s.w = 13, s.h = 11;
  std::vector<Bytes> rows(s.h, Bytes(s.w * 3));
  for (int y = 0; y < s.h; ++y) {
    for (int i = 0; i < s.w * 3; ++i) rows[y][i] = static_cast<uint8_t>(y * 31 + i * 7);
  }
  const RgbImage plain = Decode(WritePngBytes(s, rows), "plain.png");
  s.interlace = true;
  const RgbImage inter = Decode(WritePngBytes(s, rows), "adam7.png");
  EXPECT_EQ(plain.pixels, inter.pixels);
  for (int y = 0; y < s.h; ++y) EXPECT_EQ(0, std::memcmp(plain.row(y), rows[y].data(), s.w * 3));
}

// ---- BMP (hand-written) ----
void Le16(Bytes& b, size_t at, uint32_t v) { b[at] = v & 0xFF, b[at + 1] = (v >> 8) & 0xFF; }
void Le32(Bytes& b, size_t at, uint32_t v) { Le16(b, at, v & 0xFFFF), Le16(b, at + 2, v >> 16); }

Bytes MakeBmp(int w, int h, int bpp, const Bytes& palette_bgrx, const std::vector<Bytes>& rows_top_down,
              bool store_top_down) {
  const size_t stride = ((bpp * w + 31) / 32) * 4;
  const size_t offset = 54 + palette_bgrx.size();
  Bytes b(offset + stride * h, 0);
  b[0] = 'B', b[1] = 'M';
  Le32(b, 2, static_cast<uint32_t>(b.size()));
  Le32(b, 10, static_cast<uint32_t>(offset));
  Le32(b, 14, 40);
  Le32(b, 18, w);
  Le32(b, 22, static_cast<uint32_t>(store_top_down ? -h : h));
  Le16(b, 26, 1);
  Le16(b, 28, bpp);
  Le32(b, 46, static_cast<uint32_t>(palette_bgrx.size() / 4));
  if (!palette_bgrx.empty()) std::memcpy(&b[54], palette_bgrx.data(), palette_bgrx.size());
  for (int y = 0; y < h; ++y) {
    const int file_row = store_top_down ? y : h - 1 - y;
    std::memcpy(&b[offset + stride * file_row], rows_top_down[y].data(), rows_top_down[y].size());
  }
  return b;
}

TEST(ImageFormats, Bmp24And32BitBothOrientations) {
  const std::vector<Bytes> rows24 = {{1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 11, 12, 13, 14, 15, 16, 17, 18}};
  for (bool td : {false, true}) {
    const RgbImage img = Decode(MakeBmp(3, 2, 24, {}, rows24, td), "b24.bmp");
    ASSERT_EQ(img.width, 3);
    ExpectPixel(img, 0, 0, 3, 2, 1);  // stored BGR
    ExpectPixel(img, 2, 1, 18, 17, 16);
  }
  const RgbImage img32 = Decode(MakeBmp(2, 1, 32, {}, {{1, 2, 3, 0, 4, 5, 6, 0}}, false), "b32.bmp");
  ExpectPixel(img32, 0, 0, 3, 2, 1);
  ExpectPixel(img32, 1, 0, 6, 5, 4);
}

TEST(ImageFormats, BmpPaletteAnd16Bit) {
  const Bytes pal = {30, 20, 10, 0, 0, 0, 255, 0};  // BGRX: (10,20,30), (255,0,0)
  const RgbImage p8 = Decode(MakeBmp(3, 1, 8, pal, {{1, 0, 1}}, false), "p8.bmp");
  ExpectPixel(p8, 0, 0, 255, 0, 0);
  ExpectPixel(p8, 1, 0, 10, 20, 30);
  const RgbImage p1 = Decode(MakeBmp(3, 1, 1, pal, {{0x40}}, false), "p1.bmp");  // bits 0,1,0
  ExpectPixel(p1, 0, 0, 10, 20, 30);
  ExpectPixel(p1, 1, 0, 255, 0, 0);
  // 16 bpp 5-5-5: r=31, g=16, b=1 -> 255, 16*255/31=131, 8
  const uint16_t px = (31 << 10) | (16 << 5) | 1;
  const RgbImage p16 = Decode(MakeBmp(1, 1, 16, {}, {{static_cast<uint8_t>(px & 0xFF), static_cast<uint8_t>(px >> 8)}}, false),
                              "p16.bmp");
  ExpectPixel(p16, 0, 0, 255, 131, 8);
}

TEST(ImageFormats, BmpTruncatedAndRleAreErrors) {
  Bytes b = MakeBmp(4, 4, 24, {}, std::vector<Bytes>(4, Bytes(12, 7)), false);
  b.resize(b.size() - 10);
  EXPECT_THROW(Decode(b, "cut.bmp"), Error);
  try {
    Decode(b, "cut.bmp");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
  }
  Bytes rle = MakeBmp(4, 4, 8, Bytes(16, 0), std::vector<Bytes>(4, Bytes(4, 0)), false);
  Le32(rle, 30, 1);  // BI_RLE8
  try {
    Decode(rle, "rle.bmp");
    ADD_FAILURE() << "RLE accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
  }
}

// ---- GIF (giflib) ----
int GifWriteCb(GifFileType* gif, const GifByteType* data, int n) {
  auto* out = static_cast<Bytes*>(gif->UserData);
  out->insert(out->end(), data, data + n);
  return n;
}

Bytes MakeGif(int sw, int sh, int left, int top, int w, int h, const Bytes& indices, int transparency) {
  Bytes out;
  int err = 0;
  GifFileType* gif = EGifOpen(&out, GifWriteCb, &err);
  EXPECT_NE(gif, nullptr);
  GifColorType colors[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  ColorMapObject* map = GifMakeMapObject(4, colors);
  EGifSetGifVersion(gif, true);
  EXPECT_EQ(EGifPutScreenDesc(gif, sw, sh, 2, 0, map), GIF_OK);
  if (transparency >= 0) {
    GifByteType gce[4] = {1, 0, 0, static_cast<GifByteType>(transparency)};
    EXPECT_EQ(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, gce), GIF_OK);
  }
  EXPECT_EQ(EGifPutImageDesc(gif, left, top, w, h, false, nullptr), GIF_OK);
  for (int y = 0; y < h; ++y) {
    EXPECT_EQ(EGifPutLine(gif, const_cast<GifByteType*>(&indices[y * w]), w), GIF_OK);
  }
  EGifCloseFile(gif, &err);
  GifFreeMapObject(map);
  return out;
}

TEST(ImageFormats, GifFirstFrameOnScreenCanvas) {
  const RgbImage full = Decode(MakeGif(2, 2, 0, 0, 2, 2, {0, 1, 2, 3}, -1), "full.gif");
  ExpectPixel(full, 0, 0, 0, 0, 0);
  ExpectPixel(full, 1, 0, 255, 0, 0);
  ExpectPixel(full, 0, 1, 0, 255, 0);
  ExpectPixel(full, 1, 1, 0, 0, 255);
  // A 1x1 frame at (1,1) on a 3x2 screen; the rest is the transparency index's colour (index 3).
  const RgbImage part = Decode(MakeGif(3, 2, 1, 1, 1, 1, {1}, 3), "part.gif");
  ASSERT_EQ(part.width, 3);
  ExpectPixel(part, 1, 1, 255, 0, 0);
  ExpectPixel(part, 0, 0, 0, 0, 255);
  // A frame sticking out of a 2x2 screen grows the canvas (Pillow 9.4 enlarges the image size).
  const RgbImage grown = Decode(MakeGif(2, 2, 1, 0, 2, 3, {1, 2, 3, 1, 2, 3}, -1), "grown.gif");
  EXPECT_EQ(grown.width, 3);
  EXPECT_EQ(grown.height, 3);
  ExpectPixel(grown, 0, 0, 0, 0, 0);
  ExpectPixel(grown, 2, 2, 0, 0, 255);
  Bytes cut = MakeGif(2, 2, 0, 0, 2, 2, {0, 1, 2, 3}, -1);
  cut.resize(cut.size() - 8);
  EXPECT_THROW(Decode(cut, "cut.gif"), Error);
}

// ---- WebP lossless (libwebp) ----
TEST(ImageFormats, WebpLosslessRoundTrip) {
  const int w = 7, h = 5;
  Bytes rgb(w * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 37 + 11);
  uint8_t* out = nullptr;
  const size_t n = WebPEncodeLosslessRGB(rgb.data(), w, h, w * 3, &out);
  ASSERT_GT(n, 0u);
  Bytes file(out, out + n);
  WebPFree(out);
  const RgbImage img = Decode(file, "ll.webp");
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  EXPECT_EQ(img.pixels, rgb);
  file.resize(file.size() / 2);
  try {
    Decode(file, "cut.webp");
    ADD_FAILURE() << "truncated WebP accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptData) << e.what();
    EXPECT_NE(std::string(e.what()).find("cut.webp"), std::string::npos);
  }
}

Bytes Chunk(const char* tag, const Bytes& payload) {
  Bytes c(8 + payload.size() + (payload.size() & 1), 0);  // chunks are padded to even sizes
  std::memcpy(c.data(), tag, 4);
  Le32(c, 4, static_cast<uint32_t>(payload.size()));
  std::memcpy(c.data() + 8, payload.data(), payload.size());
  return c;
}

TEST(ImageFormats, AnimatedWebpFirstFrameOnZeroCanvas) {
  // Frame 1: 3x2 lossless at offset (2, 1) on a 5x4 canvas; everything else stays zero (RGBA 0).
  const int fw = 3, fh = 2;
  Bytes rgb(fw * fh * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(40 + i * 9);
  uint8_t* enc = nullptr;
  const size_t n = WebPEncodeLosslessRGB(rgb.data(), fw, fh, fw * 3, &enc);
  ASSERT_GT(n, 20u);
  ASSERT_EQ(0, std::memcmp(enc + 12, "VP8L", 4));
  const Bytes vp8l_chunk(enc + 12, enc + n);
  WebPFree(enc);
  Bytes vp8x(10, 0);
  vp8x[0] = 0x02;  // animation flag
  vp8x[4] = 5 - 1, vp8x[7] = 4 - 1;
  Bytes anim(6, 0);
  Bytes anmf(16, 0);
  anmf[0] = 1;  // x = 2 * 1
  anmf[3] = 0;  // y = 2 * 0
  anmf[6] = fw - 1, anmf[9] = fh - 1, anmf[12] = 100;
  anmf.insert(anmf.end(), vp8l_chunk.begin(), vp8l_chunk.end());
  Bytes body = {'W', 'E', 'B', 'P'};
  for (const Bytes& c : {Chunk("VP8X", vp8x), Chunk("ANIM", anim), Chunk("ANMF", anmf)}) {
    body.insert(body.end(), c.begin(), c.end());
  }
  Bytes file = {'R', 'I', 'F', 'F', 0, 0, 0, 0};
  Le32(file, 4, static_cast<uint32_t>(body.size()));
  file.insert(file.end(), body.begin(), body.end());
  const RgbImage img = Decode(file, "anim.webp");
  ASSERT_EQ(img.width, 5);
  ASSERT_EQ(img.height, 4);
  ExpectPixel(img, 0, 0, 0, 0, 0);
  ExpectPixel(img, 2, 0, rgb[0], rgb[1], rgb[2]);
  ExpectPixel(img, 4, 1, rgb[15], rgb[16], rgb[17]);
  ExpectPixel(img, 4, 2, 0, 0, 0);
  file.resize(file.size() - 6);
  EXPECT_THROW(Decode(file, "anim_cut.webp"), Error);
}

// ---- JPEG grey and CMYK (libjpeg) ----
Bytes EncodeJpeg(int w, int h, int components, J_COLOR_SPACE space, const Bytes& samples) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w, c.image_height = h, c.input_components = components, c.in_color_space = space;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(&samples[c.next_scanline * w * components]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  Bytes out(buf, buf + size);
  free(buf);
  return out;
}

TEST(ImageFormats, JpegGreyReplicates) {
  // A flat 16x16 block survives JPEG at quality 100 exactly (DC only, quantiser 1).
  const RgbImage img = Decode(EncodeJpeg(16, 16, 1, JCS_GRAYSCALE, Bytes(256, 93)), "grey.jpg");
  for (int y = 0; y < 16; y += 5) {
    for (int x = 0; x < 16; x += 5) ExpectPixel(img, x, y, 93, 93, 93);
  }
}

TEST(ImageFormats, JpegCmykUsesPillowInvertedConversion) {
  // Stored (0, 128, 255, 200). Pillow reads every CMYK JPEG as Adobe-inverted ("CMYK;I"):
  // C=255, M=127, Y=0, K=55, then R = nk - C*nk/255 (rounded) with nk = 255 - K = 200
  // -> R = 200 - 200 = 0, G = 200 - 100 = 100, B = 200.
  Bytes cmyk;
  for (int i = 0; i < 256; ++i) cmyk.insert(cmyk.end(), {0, 128, 255, 200});
  const RgbImage img = Decode(EncodeJpeg(16, 16, 4, JCS_CMYK, cmyk), "cmyk.jpg");
  ExpectPixel(img, 0, 0, 0, 100, 200);
  ExpectPixel(img, 15, 15, 0, 100, 200);
}

}  // namespace
}  // namespace dsvl

namespace dsvl {
namespace {

// Byte flips and truncations of synthetic BMP / GIF / WebP files: decoding either succeeds or throws
// dsvl::Error naming the file (run with DSVL_SANITIZE=ON to also catch memory errors).
TEST(ImageFormats, RandomCorruptionOnlyThrowsDsvlErrors) {
  const int w = 23, h = 17;
  Bytes rgb(w * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 13 + 5);
  std::vector<Bytes> rows(h);
  for (int y = 0; y < h; ++y) rows[y] = Bytes(rgb.begin() + y * w * 3, rgb.begin() + (y + 1) * w * 3);
  uint8_t* enc = nullptr;
  size_t n = WebPEncodeLosslessRGB(rgb.data(), w, h, w * 3, &enc);
  const Bytes lossless(enc, enc + n);
  WebPFree(enc);
  n = WebPEncodeRGB(rgb.data(), w, h, w * 3, 75.0f, &enc);
  const Bytes lossy(enc, enc + n);
  WebPFree(enc);
  Bytes indices(w * h);
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<uint8_t>(i % 4);
  const std::vector<std::pair<const char*, Bytes>> files = {
      {"f.bmp", MakeBmp(w, h, 24, {}, rows, false)},
      {"p.bmp", MakeBmp(w, h, 8, Bytes(16, 9), std::vector<Bytes>(h, Bytes(w, 3)), true)},
      {"f.gif", MakeGif(w, h, 0, 0, w, h, indices, 2)},
      {"ll.webp", lossless},
      {"lossy.webp", lossy}};
  uint64_t state = 0x2545F4914F6CDD1Dull;
  auto next = [&state] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  int errors = 0, decoded = 0;
  for (const auto& [name, orig] : files) {
    ASSERT_NO_THROW(Decode(orig, name)) << name;
    for (int trial = 0; trial < 60; ++trial) {
      Bytes b = orig;
      const int flips = 1 + static_cast<int>(next() % 6);
      for (int f = 0; f < flips; ++f) b[next() % b.size()] = static_cast<uint8_t>(next());
      if (trial % 3 == 0) b.resize(1 + next() % b.size());
      try {
        const RgbImage img = Decode(b, name);
        EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width * img.height * 3));
        ++decoded;
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(errors + decoded, 300);
}

}  // namespace
}  // namespace dsvl
