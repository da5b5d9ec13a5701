// The whole image path against the official outputs, for every fixture case that has images: the
// tower outputs (vision_sam_out / vision_siglip_out / vision_out_first_tiles), projector_out, and
// the image rows of inputs_embeds (positions where images_seq_mask is 1) from ImageEmbedder, plus
// NumTokens. The error measure is max |ours - official| / (max - min of the official array).
//
// Tolerances:
//  * fp32 fixtures: 1e-4 of the value range. Official and dsvl both compute in f32; what remains is
//    summation order (GEMMs, softmax, LayerNorm statistics). Measured: <= 8e-7 everywhere.
//  * bf16 fixtures: the official run keeps weights, pixels and every activation in bf16 (relative
//    step 2^-8), rounding after each op, while dsvl widens the same bf16 weights and keeps f32
//    activations. So the official bf16 output carries its own rounding noise, and that noise can be
//    measured from the fixtures: the same case run by the official code in fp32 differs from its bf16
//    run by 0.5% (SigLIP) to 1.25% (SAM, hybrid projector) of the value range. dsvl's bf16 result
//    must be no further from the official bf16 output than 1.5x that official fp32-vs-bf16 gap (same
//    slice, same case); measured ratios are 0.84-1.07, i.e. we sit as close to the official bf16 run
//    as the official fp32 run does. An absolute cap of 3% of the range guards the bound itself.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "adaptor/projector.h"
#include "core/thread_pool.h"
#include "io/image_decode.h"
#include "io/safetensors.h"
#include "kernels/isa.h"
#include "model/image_embedder.h"
#include "model/model_config.h"
#include "model/vl_image_embedders.h"
#include "npy.h"
#include "vision/hybrid_tower.h"
#include "vision/preprocess_vl1.h"
#include "vision/preprocess_vl2.h"
#include "vision/vit.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kFp32Tolerance = 1e-4;
constexpr double kBf16GapFactor = 1.5;  // x the official run's own fp32-vs-bf16 gap
constexpr double kBf16Cap = 3e-2;

struct Param {
  std::string family;
  std::string dtype;  // "fp32" | "bf16"
  // bf16 activations (kernels/isa.h), the default for vision on CPUs with full-rate bf16 dot
  // products: held to the same bound as f32 activations. Where the CPU's kernel variant has no bf16
  // dot product the setting has no effect and this repeats the plain bf16 case.
  bool bf16_activations = false;
};

std::string ParamName(const testing::TestParamInfo<Param>& info) {
  return info.param.family + "_" + info.param.dtype + (info.param.bf16_activations ? "_bf16act" : "");
}

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// max |got - want| over a slice and the range of want over it.
struct Compared {
  double max_abs = 0, range = 0;
  double rel() const { return range > 0 ? max_abs / range : max_abs; }
};

Compared Compare(const float* got, const float* want, size_t n) {
  Compared c;
  float lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    lo = std::min(lo, want[i]);
    hi = std::max(hi, want[i]);
    c.max_abs = std::max(c.max_abs, static_cast<double>(std::fabs(got[i] - want[i])));
  }
  c.range = static_cast<double>(hi) - static_cast<double>(lo);
  return c;
}

// An official array of the current case; for bf16 cases also the same case's fp32 run.
struct Reference {
  std::vector<float> values;
  std::vector<float> fp32;  // empty for fp32 cases
};

class ImageEmbedderFixture : public testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    const Param& p = GetParam();
    family_dir_ = fs::path(test::FixtureDir()) / p.family;
    bf16_ = p.dtype == "bf16";
    const fs::path ckpt = family_dir_ / (bf16_ ? "ckpt-bf16" : "ckpt");
    weights_ = WeightStore::Open(ckpt.string());
    config_ = LoadModelConfig(ckpt.string(), *weights_);
    embedder_ = CreateImageEmbedder(config_, *weights_);
  }

  Reference Load(const std::string& file) const {
    Reference r;
    r.values = test::LoadNpy((case_dir_ / file).string()).f32();
    if (bf16_) {
      const fs::path fp32 = family_dir_ / "fp32" / case_dir_.filename() / file;
      r.fp32 = test::LoadNpy(fp32.string()).f32();
      EXPECT_EQ(r.fp32.size(), r.values.size()) << fp32;
    }
    return r;
  }

  // got[0, n) against ref[offset, offset + n).
  void Check(const std::string& what, const float* got, const Reference& ref, size_t offset, size_t n) {
    ASSERT_LE(offset + n, ref.values.size()) << case_name_ << " " << what;
    const Compared c = Compare(got, ref.values.data() + offset, n);
    double tol = kFp32Tolerance;
    std::string gap_note;
    if (bf16_) {
      ASSERT_LE(offset + n, ref.fp32.size());
      const double gap = Compare(ref.fp32.data() + offset, ref.values.data() + offset, n).rel();
      tol = std::min(kBf16Cap, kBf16GapFactor * gap);
      char buf[64];
      std::snprintf(buf, sizeof buf, " official fp32-vs-bf16 %.3g", gap);
      gap_note = buf;
    }
    std::printf("  %-22s %-27s max_abs %.3g range %.3g rel %.3g (tol %.3g)%s\n", case_name_.c_str(),
                what.c_str(), c.max_abs, c.range, c.rel(), tol, gap_note.c_str());
    EXPECT_LE(c.rel(), tol) << case_name_ << " " << what << ": max abs " << c.max_abs << ", range " << c.range;
  }

  // VL1: tower and projector outputs per image (one image = one row block of each array).
  void CheckVl1Components(const std::vector<RgbImage>& images) {
    const bool hybrid = config_.sam.has_value();
    const Reference siglip_ref = Load("vision_siglip_out.npy");
    const Reference proj_ref = Load("projector_out.npy");
    Reference sam_ref;
    if (hybrid) sam_ref = Load("vision_sam_out.npy");
    Projector projector(config_.projector, *weights_);
    for (size_t i = 0; i < images.size(); ++i) {
      const Tensor pixels = PreprocessVl1(images[i], config_.vl1_processor, &pool_);
      const std::string tag = "image " + std::to_string(i);
      if (hybrid) {
        HybridTower tower(*config_.sam, *config_.siglip, *weights_);
        const int64_t T = tower.tokens();
        Tensor high = Tensor::Empty(DType::kF32, Shape{T, tower.high_channels()});
        Tensor low = Tensor::Empty(DType::kF32, Shape{T, tower.low_width()});
        tower.Forward(pool_, pixels.f32(), high.f32(), low.f32());
        const size_t nh = static_cast<size_t>(high.numel()), nl = static_cast<size_t>(low.numel());
        Check(tag + " vision_sam_out", high.f32(), sam_ref, i * nh, nh);
        Check(tag + " vision_siglip_out", low.f32(), siglip_ref, i * nl, nl);
        Tensor out = Tensor::Empty(DType::kF32, Shape{T, projector.output_dim()});
        projector.ForwardHybrid(pool_, high.f32(), low.f32(), T, out.f32());
        const size_t no = static_cast<size_t>(out.numel());
        Check(tag + " projector_out", out.f32(), proj_ref, i * no, no);
      } else {
        VisionTransformer vit(*config_.siglip, *weights_);
        const int64_t T = vit.tokens();
        Tensor feat = Tensor::Empty(DType::kF32, Shape{T, vit.width()});
        vit.Forward(pool_, pixels.f32(), 1, feat.f32());
        const size_t nf = static_cast<size_t>(feat.numel());
        Check(tag + " vision_siglip_out", feat.f32(), siglip_ref, i * nf, nf);
        Tensor out = Tensor::Empty(DType::kF32, Shape{T, projector.output_dim()});
        projector.Forward(pool_, feat.f32(), T, out.f32());
        const size_t no = static_cast<size_t>(out.numel());
        Check(tag + " projector_out", out.f32(), proj_ref, i * no, no);
      }
    }
  }

  // VL2: every view of every image in processor order; the fixture keeps the first views' tower
  // output (vision_out_first_tiles) and every view's projector output.
  void CheckVl2Components(const json& spec, const std::vector<RgbImage>& images) {
    const Reference tiles_ref = Load("vision_out_first_tiles.npy");
    const Reference proj_ref = Load("projector_out.npy");
    const auto crop_ref = test::LoadNpy((case_dir_ / "images_spatial_crop.npy").string()).i64();
    const int64_t kept_tiles = spec["arrays"]["vision_out_first_tiles"]["shape"][0].get<int64_t>();
    VisionTransformer vit(*config_.siglip, *weights_);
    Projector projector(config_.projector, *weights_);
    const int64_t T = vit.tokens(), W = vit.width(), grid = vit.config().grid();
    const int64_t side = projector.DownsampledGrid(grid), D = projector.output_dim();
    const bool cropping = images.size() <= 2;
    int64_t view_index = 0;
    for (size_t i = 0; i < images.size(); ++i) {
      const Vl2Views views = PreprocessVl2(images[i], config_.vl2_processor, cropping, &pool_);
      EXPECT_EQ(views.tiles_w, crop_ref[2 * i]);
      EXPECT_EQ(views.tiles_h, crop_ref[2 * i + 1]);
      const int64_t n = views.pixels.dim(0);
      Tensor feat = Tensor::Empty(DType::kF32, Shape{n, T, W});
      vit.Forward(pool_, views.pixels.f32(), n, feat.f32());
      for (int64_t v = 0; v < n && view_index + v < kept_tiles; ++v) {
        Check("view " + std::to_string(view_index + v) + " vision_out", feat.f32() + v * T * W, tiles_ref,
              static_cast<size_t>((view_index + v) * T * W), static_cast<size_t>(T * W));
      }
      Tensor out = Tensor::Empty(DType::kF32, Shape{n, side * side, D});
      projector.ForwardDownsample(pool_, feat.f32(), n, grid, out.f32());
      Check("image " + std::to_string(i) + " projector_out", out.f32(), proj_ref,
            static_cast<size_t>(view_index * side * side * D), static_cast<size_t>(out.numel()));
      view_index += n;
    }
    EXPECT_EQ(static_cast<size_t>(view_index * side * side * D), proj_ref.values.size());
  }

  // ImageEmbedder rows, image after image, against inputs_embeds at the image positions.
  void CheckEmbedderRows(const json& spec, const std::vector<RgbImage>& images) {
    const Reference embeds = Load("inputs_embeds.npy");
    const auto mask = test::LoadNpy((case_dir_ / "images_seq_mask.npy").string()).i64();
    const int64_t hidden = spec["arrays"]["inputs_embeds"]["shape"][1].get<int64_t>();
    std::vector<int64_t> positions;
    for (size_t t = 0; t < mask.size(); ++t)
      if (mask[t] != 0) positions.push_back(static_cast<int64_t>(t));
    EXPECT_EQ(static_cast<int64_t>(positions.size()), spec["n_image_tokens"].get<int64_t>());

    std::vector<float> got;  // ours, in prompt order
    Reference want;          // the official rows at the image positions, same order
    size_t next = 0;
    const int64_t n_images = static_cast<int64_t>(images.size());
    for (size_t i = 0; i < images.size(); ++i) {
      const int64_t tokens = embedder_->NumTokens(images[i], n_images);
      const ImageEmbedding e = embedder_->Embed(pool_, images[i], n_images);
      ASSERT_EQ(e.rows.dim(0), tokens) << case_name_ << " image " << i;
      ASSERT_EQ(e.rows.dim(1), hidden);
      ASSERT_LE(next + static_cast<size_t>(tokens), positions.size()) << case_name_ << ": too many image rows";
      got.insert(got.end(), e.rows.f32(), e.rows.f32() + e.rows.numel());
      for (int64_t r = 0; r < tokens; ++r, ++next) {
        const size_t at = static_cast<size_t>(positions[next] * hidden);
        want.values.insert(want.values.end(), embeds.values.begin() + at, embeds.values.begin() + at + hidden);
        if (bf16_) want.fp32.insert(want.fp32.end(), embeds.fp32.begin() + at, embeds.fp32.begin() + at + hidden);
      }
    }
    EXPECT_EQ(next, positions.size()) << case_name_ << ": NumTokens sum differs from the image positions";
    Check("inputs_embeds image rows", got.data(), want, 0, got.size());
  }

  ThreadPool pool_{0};
  fs::path family_dir_;
  bool bf16_ = false;
  std::unique_ptr<WeightStore> weights_;
  ModelConfig config_;
  std::unique_ptr<ImageEmbedder> embedder_;
  fs::path case_dir_;
  std::string case_name_;
};

TEST_P(ImageEmbedderFixture, MatchesOfficialOutputs) {
  const Param& p = GetParam();
  kernels::ScopedBf16Activations precision(p.bf16_activations);
  const fs::path root = family_dir_ / p.dtype;
  ASSERT_TRUE(fs::is_directory(root)) << root;
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && fs::exists(entry.path() / "case.json")) cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());
  int checked = 0;
  for (const fs::path& dir : cases) {
    const json spec = ReadJson(dir / "case.json");
    if (!spec.contains("images") || spec["images"].empty()) continue;
    case_dir_ = dir;
    case_name_ = p.family + "/" + p.dtype + "/" + dir.filename().string();
    SCOPED_TRACE(case_name_);
    std::vector<RgbImage> images;
    for (const auto& name : spec["images"])
      images.push_back(DecodeImageFile((fs::path(test::FixtureDir()) / "images" / name.get<std::string>()).string()));
    if (config_.family == ModelFamily::kDeepSeekVL) {
      CheckVl1Components(images);
    } else {
      CheckVl2Components(spec, images);
    }
    CheckEmbedderRows(spec, images);
    ++checked;
  }
  EXPECT_GT(checked, 0) << "no fixture case with images under " << root;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ImageEmbedderFixture,
                         testing::Values(Param{"v1_hybrid", "fp32"}, Param{"v1_hybrid", "bf16"},
                                         Param{"v1_siglip", "fp32"}, Param{"v1_siglip", "bf16"},
                                         Param{"vl2_tiny", "fp32"}, Param{"vl2_tiny", "bf16"},
                                         Param{"vl2_small", "fp32"}, Param{"vl2_small", "bf16"},
                                         Param{"vl2_base", "fp32"}, Param{"vl2_base", "bf16"},
                                         Param{"v1_hybrid", "bf16", true}, Param{"v1_siglip", "bf16", true},
                                         Param{"vl2_tiny", "bf16", true}, Param{"vl2_small", "bf16", true},
                                         Param{"vl2_base", "bf16", true}),
                         ParamName);

// ---- VL2 layout and token counts (docs/model-facts.md, 'VL2 image-token layout'), independent of
// the fixtures.

TEST(Vl2Layout, TokenCountsOfTheSpec) {
  // (tiles_w, tiles_h) -> tokens per image, side 14.
  const std::vector<std::array<int64_t, 3>> table = {{1, 1, 421},  {2, 1, 617},  {1, 2, 631}, {2, 2, 1023},
                                                     {3, 2, 1415}, {4, 2, 1807}, {5, 1, 1205}, {3, 3, 2017},
                                                     {9, 1, 1989}, {1, 9, 2101}};
  for (const auto& [w, h, n] : table) EXPECT_EQ(Vl2ImageTokens(14, w, h), n) << w << "x" << h;
}

TEST(Vl2Layout, GlobalNewlinesSeparatorThenLocalMosaic) {
  // side 2, tiles 2 wide x 1 high, dim 1; view v token t holds 100 * v + t; newline -1, separator -2.
  const int64_t side = 2, tw = 2, th = 1;
  std::vector<float> views;
  for (int v = 0; v < 3; ++v)
    for (int t = 0; t < 4; ++t) views.push_back(static_cast<float>(100 * v + t));
  const float newline = -1.0f, separator = -2.0f;
  std::vector<float> rows(static_cast<size_t>(Vl2ImageTokens(side, tw, th)));
  Vl2LayoutRows(views.data(), side, tw, th, 1, &newline, &separator, /*global_first=*/true, rows.data());
  const std::vector<float> global = {0, 1, -1, 2, 3, -1};
  const std::vector<float> local = {100, 101, 200, 201, -1, 102, 103, 202, 203, -1};
  std::vector<float> head = global;
  head.push_back(-2);
  head.insert(head.end(), local.begin(), local.end());
  EXPECT_EQ(rows, head);
  Vl2LayoutRows(views.data(), side, tw, th, 1, &newline, &separator, /*global_first=*/false, rows.data());
  std::vector<float> tail = local;
  tail.push_back(-2);
  tail.insert(tail.end(), global.begin(), global.end());
  EXPECT_EQ(rows, tail);
}

RgbImage GreyImage(int64_t w, int64_t h) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.assign(static_cast<size_t>(w * h * 3), 90);
  return img;
}

TEST(ImageEmbedder, NumTokensFollowsTheTilingRule) {
  const fs::path ckpt = fs::path(test::FixtureDir()) / "vl2_tiny" / "ckpt";
  const auto weights = WeightStore::Open(ckpt.string());
  const ModelConfig config = LoadModelConfig(ckpt.string(), *weights);
  const auto embedder = CreateImageEmbedder(config, *weights);
  const RgbImage img = GreyImage(640, 480);                // best resolution 768x768: 2x2 tiles
  EXPECT_EQ(embedder->NumTokens(img, 1), 1023);
  EXPECT_EQ(embedder->NumTokens(img, 2), 1023);
  EXPECT_EQ(embedder->NumTokens(img, 3), 421);             // > 2 images: no cropping
  EXPECT_EQ(embedder->NumTokens(GreyImage(1920, 200), 1), 1205);  // 5x1
  ThreadPool pool(0);
  const ImageEmbedding e = embedder->Embed(pool, img, 3);
  EXPECT_EQ(e.rows.dim(0), 421);
  EXPECT_EQ(e.tiles_w, 1);
  EXPECT_EQ(e.tiles_h, 1);
}

TEST(ImageEmbedder, Vl1AlwaysTakes576Rows) {
  const fs::path ckpt = fs::path(test::FixtureDir()) / "v1_siglip" / "ckpt";
  const auto weights = WeightStore::Open(ckpt.string());
  const ModelConfig config = LoadModelConfig(ckpt.string(), *weights);
  const auto embedder = CreateImageEmbedder(config, *weights);
  EXPECT_EQ(embedder->NumTokens(GreyImage(17, 300), 1), 576);
  EXPECT_EQ(embedder->NumTokens(GreyImage(1000, 20), 5), 576);
  ThreadPool pool(0);
  const ImageEmbedding e = embedder->Embed(pool, GreyImage(17, 300), 1);
  EXPECT_EQ(e.rows.dim(0), 576);
  EXPECT_EQ(e.rows.dim(1), config.llm.hidden_size);
}

}  // namespace
}  // namespace dsvl
