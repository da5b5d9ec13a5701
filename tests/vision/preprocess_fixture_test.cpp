// Every fixture case with pixels: our uint8 canvases must equal the official processor's bytes, the
// float tensors must follow the case's formula, and VL2 tile counts must equal images_spatial_crop.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/image_decode.h"
#include "npy.h"
#include "vision/preprocess_vl1.h"
#include "vision/preprocess_vl2.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

Vl1ProcessorConfig LoadVl1Config(const fs::path& file) {
  const json j = ReadJson(file);
  Vl1ProcessorConfig c;
  c.image_size = j.at("image_size");
  c.min_size = j.at("min_size");
  for (int i = 0; i < 3; ++i) {
    c.mean[i] = j.at("image_mean")[i].get<float>();
    c.std[i] = j.at("image_std")[i].get<float>();
  }
  c.rescale_factor = j.at("rescale_factor");
  c.do_normalize = j.at("do_normalize");
  return c;
}

Vl2ProcessorConfig LoadVl2Config(const fs::path& file) {
  const json j = ReadJson(file);
  Vl2ProcessorConfig c;
  for (const auto& r : j.at("candidate_resolutions")) c.candidate_resolutions.emplace_back(r[0], r[1]);
  c.patch_size = j.at("patch_size");
  c.downsample_ratio = j.at("downsample_ratio");
  for (int i = 0; i < 3; ++i) {
    c.mean[i] = j.at("image_mean")[i].get<float>();
    c.std[i] = j.at("image_std")[i].get<float>();
  }
  c.normalize = j.at("normalize");
  return c;
}

// Count of bytes that differ, and the first one, for a readable failure message.
void ExpectSameBytes(const RgbImage& got, const RgbImage& want, int64_t want_row0, const std::string& what) {
  ASSERT_EQ(got.width, want.width) << what;
  int64_t diffs = 0, first = -1;
  const size_t n = static_cast<size_t>(got.width * got.height * 3);
  const uint8_t* w = want.row(want_row0);
  for (size_t i = 0; i < n; ++i) {
    if (got.pixels[i] != w[i]) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++diffs;
    }
  }
  EXPECT_EQ(diffs, 0) << what << ": first differing byte " << first << " (pixel " << first / 3 << ")";
}

struct CaseInfo {
  fs::path dir;
  std::string family;
  json spec;
};

std::vector<CaseInfo> CasesWithPixels(int* skipped_text) {
  std::vector<CaseInfo> cases;
  const fs::path root = test::FixtureDir();
  for (const char* family : {"v1_hybrid", "v1_siglip", "vl2_tiny", "vl2_small", "vl2_base"}) {
    for (const char* dtype : {"fp32", "bf16"}) {
      const fs::path d = root / family / dtype;
      if (!fs::exists(d)) continue;
      std::vector<fs::path> dirs;
      for (const auto& entry : fs::directory_iterator(d)) dirs.push_back(entry.path());
      std::sort(dirs.begin(), dirs.end());
      for (const fs::path& dir : dirs) {
        const fs::path cj = dir / "case.json";
        if (!fs::exists(cj)) continue;
        json spec = ReadJson(cj);
        if (spec.at("pixels").is_null()) {
          ++*skipped_text;  // text-only case: nothing to preprocess
          continue;
        }
        cases.push_back({dir, family, std::move(spec)});
      }
    }
  }
  return cases;
}

TEST(PreprocessFixtures, FixtureSetIsComplete) {
  int text_cases = 0;
  const std::vector<CaseInfo> cases = CasesWithPixels(&text_cases);
  // 5 families x (fp32 + bf16) image cases exist in the fixture set; guards against a silent empty glob.
  EXPECT_GE(cases.size(), 15u);
  EXPECT_GE(text_cases, 10);
}

class PreprocessFixtureCase : public ::testing::TestWithParam<CaseInfo> {};

TEST_P(PreprocessFixtureCase, CanvasesAndTensorsMatchOfficial) {
  const CaseInfo& c = GetParam();
  const fs::path root = test::FixtureDir();
  const json& px = c.spec.at("pixels");
  const RgbImage want = DecodeImageFile((root / "pixels" / (px.at("sha16").get<std::string>() + ".png")).string());
  const int64_t tile_h = px.at("tile_hw")[0], tile_w = px.at("tile_hw")[1];
  const int64_t n = px.at("n");
  ASSERT_EQ(want.width, tile_w);
  ASSERT_EQ(want.height, tile_h * n);
  const auto& images = c.spec.at("images");
  const bool v1 = c.family.rfind("v1_", 0) == 0;
  int64_t view = 0;
  if (v1) {
    const Vl1ProcessorConfig cfg = LoadVl1Config(root / c.family / "ckpt" / "preprocessor_config.json");
    // The case's formula names the normalisation exactly when the config enables it.
    const std::string formula = px.at("formula");
    ASSERT_EQ(formula.find("- 0.5f) / 0.5f") != std::string::npos, cfg.do_normalize) << formula;
    for (const auto& name : images) {
      const RgbImage img = DecodeImageFile((root / "images" / name.get<std::string>()).string());
      const RgbImage canvas = Vl1Canvas(img, cfg);
      ASSERT_EQ(canvas.height, tile_h);
      ExpectSameBytes(canvas, want, view * tile_h, name.get<std::string>() + " canvas");
      // Float tensor = formula over the official bytes (v1_hybrid: rescale only; v1_siglip: rescale
      // then (x - 0.5f) / 0.5f). Exact: both sides are the same float32 operations.
      const Tensor t = PreprocessVl1(img, cfg);
      ASSERT_EQ(t.shape(), (Shape{3, tile_h, tile_w}));
      int64_t bad = 0;
      for (int64_t ch = 0; ch < 3; ++ch) {
        for (int64_t i = 0; i < tile_h * tile_w; ++i) {
          const uint8_t u = want.row(view * tile_h)[i * 3 + ch];
          float f = static_cast<float>(static_cast<double>(u) * (1.0 / 255.0));
          if (cfg.do_normalize) f = (f - 0.5f) / 0.5f;
          if (t.f32()[ch * tile_h * tile_w + i] != f) ++bad;
        }
      }
      EXPECT_EQ(bad, 0) << name;
      ++view;
    }
  } else {
    const Vl2ProcessorConfig cfg = LoadVl2Config(root / c.family / "ckpt" / "processor_config.json");
    const std::vector<int64_t> crop = test::LoadNpy((c.dir / "images_spatial_crop.npy").string()).i64();
    ASSERT_EQ(crop.size(), images.size() * 2);
    const bool cropping = images.size() <= 2;
    for (size_t k = 0; k < images.size(); ++k) {
      const std::string name = images[k];
      const RgbImage img = DecodeImageFile((root / "images" / name).string());
      const Vl2Canvases canv = Vl2MakeCanvases(img, cfg, cropping);
      EXPECT_EQ(canv.tiles_w, crop[k * 2]) << name;
      EXPECT_EQ(canv.tiles_h, crop[k * 2 + 1]) << name;
      ASSERT_EQ(static_cast<int64_t>(canv.views.size()), 1 + canv.tiles_w * canv.tiles_h);
      for (size_t v = 0; v < canv.views.size(); ++v) {
        ASSERT_LT(view, n);
        ExpectSameBytes(canv.views[v], want, view * tile_h, name + " view " + std::to_string(v));
        ++view;
      }
      const Vl2Views t = PreprocessVl2(img, cfg, cropping);
      ASSERT_EQ(t.pixels.shape(), (Shape{static_cast<int64_t>(canv.views.size()), 3, 384, 384}));
      EXPECT_EQ(t.tiles_w, canv.tiles_w);
      EXPECT_EQ(t.tiles_h, canv.tiles_h);
      // Formula: (float32(u8) / 255 - 0.5) / 0.5 in float32, over the official bytes. Exact.
      int64_t bad = 0;
      const int64_t first_view = view - static_cast<int64_t>(canv.views.size());
      for (int64_t v = 0; v < t.pixels.dim(0); ++v) {
        const uint8_t* src = want.row((first_view + v) * tile_h);
        for (int64_t ch = 0; ch < 3; ++ch) {
          for (int64_t i = 0; i < 384 * 384; ++i) {
            const float f = (static_cast<float>(src[i * 3 + ch]) / 255.0f - 0.5f) / 0.5f;
            if (t.pixels.f32()[(v * 3 + ch) * 384 * 384 + i] != f) ++bad;
          }
        }
      }
      EXPECT_EQ(bad, 0) << name;
    }
  }
  EXPECT_EQ(view, n) << "number of views";
}

std::vector<CaseInfo> AllCases() {
  int ignored = 0;
  return CasesWithPixels(&ignored);
}

INSTANTIATE_TEST_SUITE_P(AllCases, PreprocessFixtureCase, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<CaseInfo>& info) {
                           const fs::path& d = info.param.dir;
                           return info.param.family + "_" + d.parent_path().filename().string() + "_" +
                                  d.filename().string();
                         });

}  // namespace
}  // namespace dsvl
