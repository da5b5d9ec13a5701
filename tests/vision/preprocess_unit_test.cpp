// Unit checks of the tiling choice and the Pillow geometry helpers, independent of the fixtures.
#include <cstring>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "core/thread_pool.h"
#include "vision/pil_resample.h"
#include "vision/preprocess_vl1.h"
#include "vision/preprocess_vl2.h"

namespace dsvl {
namespace {

std::vector<std::pair<int64_t, int64_t>> Vl2Candidates() {
  // processor_config.json of every released DeepSeek-VL2 (and the fixtures): 384-multiples up to 9 tiles.
  return {{384, 384},  {384, 768},   {768, 384},  {384, 1152}, {1152, 384}, {384, 1536},
          {1536, 384}, {768, 768},   {384, 1920}, {1920, 384}, {384, 2304}, {2304, 384},
          {768, 1152}, {1152, 768},  {384, 2688}, {2688, 384}, {384, 3072}, {3072, 384},
          {768, 1536}, {1536, 768},  {384, 3456}, {3456, 384}, {1152, 1152}};
}

TEST(SelectBestResolution, ModelSpecExamples) {
  const auto c = Vl2Candidates();
  using P = std::pair<int64_t, int64_t>;
  EXPECT_EQ(SelectBestResolution(640, 480, c), (P{768, 768}));
  EXPECT_EQ(SelectBestResolution(1920, 1080, c), (P{1536, 768}));
  EXPECT_EQ(SelectBestResolution(800, 600, c), (P{1152, 768}));
  EXPECT_EQ(SelectBestResolution(300, 900, c), (P{384, 1152}));
  EXPECT_EQ(SelectBestResolution(1920, 200, c), (P{1920, 384}));
  EXPECT_EQ(SelectBestResolution(1024, 1024, c), (P{1152, 1152}));
  EXPECT_EQ(SelectBestResolution(4000, 3000, c), (P{1152, 1152}));
  EXPECT_EQ(SelectBestResolution(384, 384, c), (P{384, 384}));
  EXPECT_EQ(SelectBestResolution(17, 23, c), (P{384, 384}));
  EXPECT_EQ(SelectBestResolution(1, 1, c), (P{384, 384}));
}

TEST(SelectBestResolution, FirstCandidateWinsExactTies) {
  // 100x100 fits every candidate at full resolution; (384,384) has the least waste and comes first.
  // With two equal-waste candidates the earlier one must win.
  using P = std::pair<int64_t, int64_t>;
  EXPECT_EQ(SelectBestResolution(100, 100, {{384, 768}, {768, 384}}), (P{384, 768}));
  EXPECT_EQ(SelectBestResolution(100, 100, {{768, 384}, {384, 768}}), (P{768, 384}));
  EXPECT_THROW(SelectBestResolution(100, 100, {}), Error);
  EXPECT_THROW(SelectBestResolution(0, 100, Vl2Candidates()), Error);
}

RgbImage Gradient(int64_t w, int64_t h) {
  RgbImage img = FilledImage(w, h, RgbColor{0, 0, 0});
  for (int64_t i = 0; i < w * h * 3; ++i) img.pixels[i] = static_cast<uint8_t>((i * 7919) % 251);
  return img;
}

TEST(PilResample, SameSizeIsCopyAndConstantStaysConstant) {
  const RgbImage g = Gradient(31, 17);
  EXPECT_EQ(PilResizeBicubic(g, 31, 17).pixels, g.pixels);
  // Bicubic weights sum to 1 (normalised then rounded per tap): a flat image must stay flat.
  const RgbImage flat = FilledImage(50, 40, RgbColor{200, 13, 99});
  for (auto [w, h] : {std::pair<int64_t, int64_t>{384, 384}, {7, 300}, {50, 11}, {3, 40}}) {
    const RgbImage r = PilResizeBicubic(flat, w, h);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    for (int64_t i = 0; i < w * h; ++i) {
      ASSERT_EQ(r.pixels[i * 3], 200);
      ASSERT_EQ(r.pixels[i * 3 + 1], 13);
      ASSERT_EQ(r.pixels[i * 3 + 2], 99);
    }
  }
}

TEST(PilResample, ThreadPoolGivesIdenticalBytes) {
  ThreadPool pool(3);
  const RgbImage g = Gradient(1000, 700);
  for (auto [w, h] : {std::pair<int64_t, int64_t>{384, 269}, {1152, 806}, {1000, 40}, {33, 700}}) {
    EXPECT_EQ(PilResizeBicubic(g, w, h, &pool).pixels, PilResizeBicubic(g, w, h).pixels) << w << "x" << h;
  }
  Vl2ProcessorConfig cfg;
  cfg.candidate_resolutions = Vl2Candidates();
  const Vl2Views a = PreprocessVl2(g, cfg, true, &pool), b = PreprocessVl2(g, cfg, true);
  ASSERT_EQ(a.pixels.shape(), b.pixels.shape());
  EXPECT_EQ(0, std::memcmp(a.pixels.f32(), b.pixels.f32(), a.pixels.numel() * sizeof(float)));
}

TEST(PilResample, PadUsesHalfToEvenRounding) {
  // 5x2 into 4x4: new height = round(2/5*4 = 1.6) = 2, offset round((4-2)*0.5) = 1.
  // 2x1 into 5x5: new height = round(2.5) = 2 (half-to-even, not 3), offset round(1.5) = 2.
  const uint8_t grey[3] = {127, 127, 127};
  const RgbImage a = PilImageOpsPad(FilledImage(2, 1, RgbColor{9, 9, 9}), 5, 5, grey);
  ASSERT_EQ(a.width, 5);
  for (int64_t y = 0; y < 5; ++y) {
    const uint8_t want = (y == 2 || y == 3) ? 9 : 127;
    EXPECT_EQ(a.row(y)[0], want) << "row " << y;
  }
  // 1x2 into 5x5: new width = round(2.5) = 2; x offset = round(1.5) = 2.
  const RgbImage b = PilImageOpsPad(FilledImage(1, 2, RgbColor{9, 9, 9}), 5, 5, grey);
  for (int64_t x = 0; x < 5; ++x) EXPECT_EQ(b.row(0)[x * 3], (x == 2 || x == 3) ? 9 : 127) << "col " << x;
  // Same aspect ratio: a plain resize, no border.
  const RgbImage c = PilImageOpsPad(FilledImage(10, 20, RgbColor{9, 9, 9}), 5, 10, grey);
  EXPECT_EQ(c.row(0)[0], 9);
}

TEST(PilResample, ExpandToSquareFloorsOffsets) {
  const RgbImage wide = ExpandToSquare(FilledImage(5, 2, RgbColor{1, 2, 3}), RgbColor{7, 8, 9});
  ASSERT_EQ(wide.width, 5);
  ASSERT_EQ(wide.height, 5);
  // (5 - 2) // 2 = 1: rows 1 and 2 hold the image.
  EXPECT_EQ(wide.row(0)[0], 7);
  EXPECT_EQ(wide.row(1)[0], 1);
  EXPECT_EQ(wide.row(2)[0], 1);
  EXPECT_EQ(wide.row(3)[0], 7);
}

TEST(Vl1Processor, BackgroundIsTruncatedMeanTimes255) {
  Vl1ProcessorConfig clip;
  EXPECT_EQ(clip.Background(), (std::array<uint8_t, 3>{122, 116, 104}));
  Vl1ProcessorConfig half;
  half.mean = {0.5f, 0.5f, 0.5f};
  EXPECT_EQ(half.Background(), (std::array<uint8_t, 3>{127, 127, 127}));
}

TEST(Vl1Processor, ShortSideNeverBelowMinSize) {
  Vl1ProcessorConfig cfg;
  cfg.image_size = 384;
  const RgbImage canvas = Vl1Canvas(FilledImage(2000, 10, RgbColor{0, 0, 0}), cfg);
  ASSERT_EQ(canvas.width, 384);
  // int(10/2000*384) = 1 < 14: the strip is 14 rows, pasted at (384-14)//2 = 185.
  EXPECT_EQ(canvas.row(184)[0], 122);
  EXPECT_EQ(canvas.row(185)[0], 0);
  EXPECT_EQ(canvas.row(198)[0], 0);
  EXPECT_EQ(canvas.row(199)[0], 122);
}

TEST(Vl2Processor, NoCroppingGivesGlobalPlusOneEqualTile) {
  Vl2ProcessorConfig cfg;
  cfg.candidate_resolutions = Vl2Candidates();
  const RgbImage img = Gradient(640, 480);
  const Vl2Canvases c = Vl2MakeCanvases(img, cfg, /*cropping=*/false);
  ASSERT_EQ(c.views.size(), 2u);
  EXPECT_EQ(c.tiles_w, 1);
  EXPECT_EQ(c.tiles_h, 1);
  EXPECT_EQ(c.views[0].pixels, c.views[1].pixels);
  Vl2ProcessorConfig odd = cfg;
  odd.candidate_resolutions = {{384, 384}, {500, 384}};
  EXPECT_THROW(Vl2MakeCanvases(Gradient(1000, 700), odd, /*cropping=*/true), Error);
  const Vl2Views v = PreprocessVl2(img, cfg, /*cropping=*/true);
  EXPECT_EQ(v.pixels.shape(), (Shape{5, 3, 384, 384}));
  EXPECT_EQ(v.tiles_w, 2);
  EXPECT_EQ(v.tiles_h, 2);
}

}  // namespace
}  // namespace dsvl
