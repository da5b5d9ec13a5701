// The VL2 image-path trainers on tiny random weights: the downsample_mlp_gelu projector against
// central finite differences (every weight and every input element, with and without the zero padding
// of an odd grid, two and three Linears) and against the inference projector's forward; the tile
// layout against the inference layout (Vl2LayoutRows), a hand-computed gradient and finite
// differences. The vl2_tiny fixture test covers the official numbers.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "../llm/tiny_checkpoint.h"
#include "adaptor/projector.h"
#include "core/thread_pool.h"
#include "dsvl/error.h"
#include "model/vl_image_embedders.h"
#include "train/param_set.h"
#include "train/vl2_image_layout.h"
#include "train/vl2_projector_trainer.h"

namespace dsvl::train {
namespace {

std::vector<float> Uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

ProjectorConfig TinyProjector(int64_t depth) {
  ProjectorConfig c;
  c.prefix = "projector.";
  c.type = ProjectorType::kDownsampleMlpGelu;
  c.input_dim = 3;
  c.n_embed = 4;
  c.depth = depth;
  c.mlp_ratio = 2;
  c.downsample_ratio = 2;
  return c;
}

// layers.0 [n_embed*mlp_ratio, C*r*r], then [.., ..] chained, the last [n_embed, ..].
void AddProjector(test::TinyCheckpoint& ck, const ProjectorConfig& c) {
  const int64_t linears = std::max<int64_t>(c.depth, 2), hidden = c.n_embed * c.mlp_ratio;
  int64_t in = c.input_dim * c.downsample_ratio * c.downsample_ratio;
  for (int64_t i = 0; i < linears; ++i) {
    const int64_t out = i + 1 == linears ? c.n_embed : hidden;
    const std::string p = c.prefix + "layers." + std::to_string(2 * i);
    ck.Random(p + ".weight", Shape{out, in}, 1.5f / std::sqrt(static_cast<float>(in)));
    ck.Random(p + ".bias", Shape{out}, 0.3f);
    in = out;
  }
}

// (depth, grid): grid 3 pads to 4 (the merge then reads zeros), grid 4 does not.
class Vl2ProjectorGrad : public testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(Vl2ProjectorGrad, EveryGradientMatchesFiniteDifferences) {
  const auto [depth, grid] = GetParam();
  const ProjectorConfig c = TinyProjector(depth);
  test::TinyCheckpoint ck(static_cast<uint32_t>(31 + depth * 10 + grid));
  AddProjector(ck, c);
  const auto store = ck.Open("vl2_projector_fd");
  ParamSet params;
  for (const auto& [name, info] : store->tensors()) params.Add(*store, name);
  Vl2ProjectorTrainer proj(c, *store, params);
  ThreadPool pool(1);
  const int64_t n = 2, og = proj.MergedGrid(grid);
  ASSERT_EQ(og, 2);
  std::vector<float> x = Uniform(static_cast<size_t>(n * grid * grid * c.input_dim), 3, -2.0f, 2.0f);
  std::vector<float> out(static_cast<size_t>(n * og * og * c.n_embed));
  const auto r = Uniform(out.size(), 4, -1.0f, 1.0f);

  {  // the forward is the inference projector's
    const Projector ref(c, *store);
    std::vector<float> want(out.size());
    ref.ForwardDownsample(pool, x.data(), n, grid, want.data());
    proj.Forward(pool, x.data(), n, grid, out.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << "output " << i;
  }
  proj.Forward(pool, x.data(), n, grid, out.data());
  std::vector<float> dx(x.size(), -7.0f);  // Backward must write every element
  proj.Backward(pool, r.data(), dx.data());

  auto loss = [&] {
    proj.Forward(pool, x.data(), n, grid, out.data());
    return Dot(out, r);
  };
  // Fourth-order central differences: truncation O(h⁴), rounding ~1e-7·|L|/h.
  constexpr float h = 2e-2f;
  constexpr double kAbs = 1e-4, kRel = 1e-3;
  auto fd = [&](float& v) {
    const float v0 = v;
    auto at = [&](float d) {
      v = v0 + d;
      return loss();
    };
    const double g = (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
    v = v0;
    return g;
  };
  double worst = 0;
  for (TrainParam& p : params.params())
    for (size_t i = 0; i < p.value.size(); ++i) {
      const double g = fd(p.value[i]);
      worst = std::max(worst, std::fabs(g - p.grad[i]));
      EXPECT_NEAR(p.grad[i], g, kAbs + kRel * std::fabs(g)) << p.name << "[" << i << "]";
    }
  for (size_t i = 0; i < x.size(); ++i) {
    const double g = fd(x[i]);
    worst = std::max(worst, std::fabs(g - dx[i]));
    EXPECT_NEAR(dx[i], g, kAbs + kRel * std::fabs(g)) << "dx[" << i << "]";
  }
  std::printf("VL2 projector (depth %lld, grid %lld) vs finite differences: worst |diff| %.2e\n",
              static_cast<long long>(depth), static_cast<long long>(grid), worst);
}

INSTANTIATE_TEST_SUITE_P(DepthGrid, Vl2ProjectorGrad,
                         testing::Values(std::tuple<int64_t, int64_t>{2, 3}, std::tuple<int64_t, int64_t>{2, 4},
                                         std::tuple<int64_t, int64_t>{3, 3}),
                         [](const auto& info) {
                           return "Depth" + std::to_string(std::get<0>(info.param)) + "Grid" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(Vl2ProjectorTrainer, RejectsOtherTypesMisShapedLayersAndBackwardBeforeForward) {
  const ProjectorConfig c = TinyProjector(2);
  test::TinyCheckpoint ck(40);
  AddProjector(ck, c);
  const auto store = ck.Open("vl2_projector_errors");
  ParamSet params;
  ProjectorConfig mlp = c;
  mlp.type = ProjectorType::kMlpGelu;
  EXPECT_THROW(Vl2ProjectorTrainer(mlp, *store, params), Error);
  ProjectorConfig wide = c;
  wide.input_dim = 4;  // layers.0 takes 3*2*2 = 12 columns, not 16
  EXPECT_THROW(Vl2ProjectorTrainer(wide, *store, params), Error);
  ProjectorConfig other_out = c;
  other_out.n_embed = 5;
  EXPECT_THROW(Vl2ProjectorTrainer(other_out, *store, params), Error);
  Vl2ProjectorTrainer proj(c, *store, params);
  ThreadPool pool(1);
  std::vector<float> d(64);
  EXPECT_THROW(proj.Backward(pool, d.data(), nullptr), Error);
  EXPECT_THROW(proj.Forward(pool, d.data(), 0, 3, d.data()), Error);
}

// The layout's forward is the inference layout, for every tile shape and both global_view_pos.
TEST(Vl2ImageLayout, ForwardIsTheInferenceLayout) {
  const int64_t dim = 3;
  for (const bool global_first : {true, false})
    for (const auto& [tw, th] : {std::pair<int64_t, int64_t>{1, 1}, {1, 3}, {3, 1}, {2, 2}})
      for (const int64_t side : {1, 2, 3}) {
        const Vl2TileGrid g{side, tw, th, global_first};
        const auto views = Uniform(static_cast<size_t>(g.views() * side * side * dim), 7, -1.0f, 1.0f);
        const auto nl = Uniform(dim, 8, -1.0f, 1.0f), sep = Uniform(dim, 9, -1.0f, 1.0f);
        const std::vector<int64_t> src = Vl2LayoutSources(g);
        ASSERT_EQ(static_cast<int64_t>(src.size()), Vl2ImageTokens(side, tw, th));
        std::vector<float> ours(src.size() * dim), want(ours.size());
        Vl2LayoutForward(src, views.data(), nl.data(), sep.data(), dim, ours.data());
        Vl2LayoutRows(views.data(), side, tw, th, dim, nl.data(), sep.data(), global_first, want.data());
        EXPECT_EQ(ours, want) << "side " << side << " tiles " << tw << "x" << th << " global_first " << global_first;
      }
}

// side 2, tiles 2 wide x 1 high, global first (17 rows):
//   0 1 NL(2) 3 4 NL(5) | SEP(6) | 7 8 9 10 NL(11) 12 13 14 15 NL(16)
// rows 7-8 are tile 1's top row, 9-10 tile 2's; with d_row i = i + 1 (every column), d_newline = 3 + 6
// + 12 + 17 = 38, d_separator = 7, and e.g. view 2's (y 1, x 1) token came from row 15 -> 16.
TEST(Vl2ImageLayout, BackwardHandCase) {
  const Vl2TileGrid g{2, 2, 1, true};
  const std::vector<int64_t> src = Vl2LayoutSources(g);
  ASSERT_EQ(src.size(), 17u);
  const int64_t dim = 2, view_rows = g.views() * 4;
  std::vector<float> d_rows(src.size() * dim);
  for (size_t i = 0; i < d_rows.size(); ++i) d_rows[i] = static_cast<float>(i / dim + 1);
  std::vector<float> d_views(static_cast<size_t>(view_rows * dim), -1.0f), d_nl(dim, 0.5f), d_sep(dim, 0.0f);
  Vl2LayoutBackward(src, d_rows.data(), dim, view_rows, d_views.data(), d_nl.data(), d_sep.data());
  for (int64_t k = 0; k < dim; ++k) {
    EXPECT_EQ(d_nl[k], 38.5f);  // accumulated onto the 0.5 already there
    EXPECT_EQ(d_sep[k], 7.0f);
  }
  const std::vector<float> want_rows = {1, 2, 4, 5, 8, 9, 13, 14, 10, 11, 15, 16};  // per view row
  for (int64_t v = 0; v < view_rows; ++v)
    for (int64_t k = 0; k < dim; ++k) EXPECT_EQ(d_views[v * dim + k], want_rows[v]) << "view row " << v;
}

// L = Σ rows ⊙ R is linear in views, newline and separator, so central differences are exact up to
// rounding: every input element, through the trainer class (which reads the checkpoint's vectors),
// for one image and for two images laid out in one call (the second image's rows follow the first's,
// as the inference layout of each, and its views follow the first image's views).
TEST(Vl2ImageLayout, TrainerGradientsMatchFiniteDifferences) {
  const int64_t dim = 4, side = 3;
  test::TinyCheckpoint ck(41);
  ck.Random("image_newline", Shape{dim}, 1.0f);
  ck.Random("view_seperator", Shape{dim}, 1.0f);
  const auto store = ck.Open("vl2_layout_fd");
  ParamSet params;
  params.Add(*store, "image_newline");
  params.Add(*store, "view_seperator");
  Vl2LayoutTrainer layout(*store, params, dim);
  for (const bool global_first : {true, false})
    for (const size_t n_images : {1u, 2u}) {
      std::vector<Vl2TileGrid> images = {Vl2TileGrid{side, 2, 3, global_first}, Vl2TileGrid{side, 1, 1, global_first}};
      images.resize(n_images);
      int64_t n_views = 0, rows = 0;
      for (const Vl2TileGrid& g : images) {
        n_views += g.views();
        rows += Vl2ImageTokens(side, g.tiles_w, g.tiles_h);
      }
      std::vector<float> views = Uniform(static_cast<size_t>(n_views * side * side * dim), 10, -1.0f, 1.0f);
      std::vector<float> out(static_cast<size_t>(rows * dim));
      const auto r = Uniform(out.size(), 11, -1.0f, 1.0f);
      params.ZeroGrads();
      ASSERT_EQ(layout.Forward(images, views.data(), out.data()), rows);
      {  // each image's rows are the inference layout of its own views
        std::vector<float> want(out.size());
        const float* v = views.data();
        float* w = want.data();
        for (const Vl2TileGrid& g : images) {
          Vl2LayoutRows(v, side, g.tiles_w, g.tiles_h, dim, params.Find("image_newline")->value.data(),
                        params.Find("view_seperator")->value.data(), global_first, w);
          v += g.views() * side * side * dim;
          w += Vl2ImageTokens(side, g.tiles_w, g.tiles_h) * dim;
        }
        EXPECT_EQ(out, want);
      }
      std::vector<float> d_views(views.size(), 3.0f);
      layout.Backward(r.data(), d_views.data());
      auto loss = [&] {
        layout.Forward(images, views.data(), out.data());
        return Dot(out, r);
      };
      auto fd = [&](float& v) {
        const float v0 = v;
        v = v0 + 0.5f;
        const double up = loss();
        v = v0 - 0.5f;
        const double down = loss();
        v = v0;
        return up - down;  // / (2 * 0.5)
      };
      for (size_t i = 0; i < views.size(); ++i) EXPECT_NEAR(d_views[i], fd(views[i]), 1e-6) << "view " << i;
      for (TrainParam& p : params.params())
        for (size_t i = 0; i < p.value.size(); ++i) EXPECT_NEAR(p.grad[i], fd(p.value[i]), 1e-5) << p.name << i;
    }
}

TEST(Vl2ImageLayout, RejectsMisShapedVectorsBadGridsAndBackwardBeforeForward) {
  test::TinyCheckpoint ck(42);
  ck.Random("image_newline", Shape{4}, 1.0f);
  ck.Random("view_seperator", Shape{5}, 1.0f);
  const auto store = ck.Open("vl2_layout_errors");
  ParamSet params;
  EXPECT_THROW(Vl2LayoutTrainer(*store, params, 4), Error);  // separator is [5]
  EXPECT_THROW(Vl2LayoutTrainer(*store, params, 8), Error);
  EXPECT_THROW(Vl2LayoutSources(Vl2TileGrid{0, 1, 1, true}), Error);
  EXPECT_THROW(Vl2LayoutSources(Vl2TileGrid{2, 0, 1, true}), Error);
  test::TinyCheckpoint ok(43);
  ok.Random("image_newline", Shape{4}, 1.0f);
  ok.Random("view_seperator", Shape{4}, 1.0f);
  const auto good = ok.Open("vl2_layout_ok");
  Vl2LayoutTrainer layout(*good, params, 4);
  std::vector<float> d(64), v(64);
  EXPECT_THROW(layout.Backward(d.data(), v.data()), Error);
  EXPECT_THROW(layout.Forward(std::vector<Vl2TileGrid>{}, v.data(), d.data()), Error);
}

}  // namespace
}  // namespace dsvl::train
