// VitTrainer on a tiny random SigLIP-style tower, checked against central finite differences of
// L = Σ out ⊙ R (R random, so dL/dout = R): every element of every tensor, for both GELU forms, two
// images in one batch (pos_embed's gradient sums over them; attention must stay within each image)
// and in-tower normalisation. The v1_siglip fixture test covers the official numbers, but only erf
// GELU and one image per call.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../llm/tiny_checkpoint.h"
#include "core/thread_pool.h"
#include "dsvl/error.h"
#include "train/param_set.h"
#include "train/vit_trainer.h"
#include "vision/vit.h"

namespace dsvl::train {
namespace {

VitConfig TinyConfig(GeluKind gelu) {
  VitConfig c;
  c.prefix = "vision.";
  c.image_size = 8;
  c.patch_size = 4;  // 2x2 grid: 4 tokens per image
  c.width = 8;
  c.layers = 2;
  c.heads = 2;
  c.mlp_hidden = 16;
  c.gelu = gelu;
  c.normalize = true;
  c.mean = {0.48f, 0.46f, 0.41f};
  c.std = {0.27f, 0.26f, 0.28f};
  return c;
}

// Every tensor of the tower (names as the checkpoints spell them), scaled so that attention is far
// from uniform and the GELUs see both signs.
void AddTower(test::TinyCheckpoint& ck, const VitConfig& c) {
  const std::string& p = c.prefix;
  const int64_t W = c.width, F = c.mlp_hidden, ps = c.patch_size;
  auto lin = [&](const std::string& n, int64_t out, int64_t in) {
    ck.Random(n + ".weight", Shape{out, in}, 1.2f / std::sqrt(static_cast<float>(in)));
    ck.Random(n + ".bias", Shape{out}, 0.3f);
  };
  auto ln = [&](const std::string& n) {
    ck.Norm(n + ".weight", W);
    ck.Random(n + ".bias", Shape{W}, 0.2f);
  };
  ck.Random(p + "patch_embed.proj.weight", Shape{W, 3, ps, ps}, 0.3f);
  ck.Random(p + "patch_embed.proj.bias", Shape{W}, 0.3f);
  ck.Random(p + "pos_embed", Shape{1, c.num_patches(), W}, 0.5f);
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    ln(b + "norm1");
    lin(b + "attn.qkv", 3 * W, W);
    lin(b + "attn.proj", W, W);
    ln(b + "norm2");
    lin(b + "mlp.fc1", F, W);
    lin(b + "mlp.fc2", W, F);
  }
  ln(p + "norm");
}

std::vector<float> Uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

double Loss(ThreadPool& pool, VitTrainer& vit, const std::vector<float>& pixels, int64_t n,
            const std::vector<float>& r, std::vector<float>& out) {
  vit.Forward(pool, pixels.data(), n, out.data());
  double l = 0;
  for (size_t i = 0; i < out.size(); ++i) l += static_cast<double>(out[i]) * r[i];
  return l;
}

class VitTrainerGrad : public testing::TestWithParam<GeluKind> {};

TEST_P(VitTrainerGrad, EveryGradientMatchesFiniteDifferences) {
  const VitConfig c = TinyConfig(GetParam());
  test::TinyCheckpoint ck(GetParam() == GeluKind::kErf ? 21 : 22);
  AddTower(ck, c);
  const auto store = ck.Open("vit_trainer_fd");
  ParamSet params;
  for (const auto& [name, info] : store->tensors()) params.Add(*store, name);
  VitTrainer vit(c, *store, params);
  ThreadPool pool(1);
  const int64_t n = 2, per_image = 3 * c.image_size * c.image_size;
  const auto pixels = Uniform(static_cast<size_t>(n * per_image), 5, 0.0f, 1.0f);
  std::vector<float> out(static_cast<size_t>(n * vit.tokens() * vit.width()));
  const auto r = Uniform(out.size(), 6, -1.0f, 1.0f);

  // The forward is the inference tower's.
  {
    const VisionTransformer ref(c, *store);
    std::vector<float> want(out.size());
    ref.Forward(pool, pixels.data(), n, want.data());
    vit.Forward(pool, pixels.data(), n, out.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << "output " << i;
  }

  Loss(pool, vit, pixels, n, r, out);
  vit.Backward(pool, r.data());
  // Fourth-order central differences (stencil ±h, ±2h) of the f32 forward with h = 4e-2: truncation
  // O(h⁴) ~1e-6 and rounding ~1e-7·|L|/h ~1e-5, so a wrong term in a backward (off by O(|g|) ~ 0.1-1)
  // stands out, and even the erf/tanh GELU derivatives (which differ by <= 8.7e-4) mostly do.
  constexpr float h = 4e-2f;
  constexpr double kAbs = 1e-4, kRel = 1e-3;
  double worst = 0;
  for (TrainParam& p : params.params()) {
    ASSERT_EQ(p.grad.size(), p.value.size());
    for (size_t i = 0; i < p.value.size(); ++i) {
      const float v0 = p.value[i];
      auto at = [&](float dv) {
        p.value[i] = v0 + dv;
        return Loss(pool, vit, pixels, n, r, out);
      };
      const double fd = (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
      p.value[i] = v0;
      const double g = p.grad[i];
      worst = std::max(worst, std::fabs(fd - g));
      EXPECT_NEAR(g, fd, kAbs + kRel * std::fabs(fd)) << p.name << "[" << i << "]";
    }
  }
  std::printf("ViT trainer vs finite differences: worst |diff| %.2e\n", worst);
}

INSTANTIATE_TEST_SUITE_P(Gelu, VitTrainerGrad, testing::Values(GeluKind::kErf, GeluKind::kTanh),
                         [](const auto& info) { return info.param == GeluKind::kErf ? "Erf" : "Tanh"; });

// A frozen tensor is read from the checkpoint and gets no gradient; the trained ones get the same
// gradient as when everything trains (gradients flow through frozen weights).
TEST(VitTrainer, FrozenWeightsPassGradientsThrough) {
  const VitConfig c = TinyConfig(GeluKind::kTanh);
  test::TinyCheckpoint ck(23);
  AddTower(ck, c);
  const auto store = ck.Open("vit_trainer_frozen");
  ParamSet all, some;
  for (const auto& [name, info] : store->tensors()) {
    all.Add(*store, name);
    if (name.find("blocks.1.") == std::string::npos) some.Add(*store, name);  // block 1 frozen
  }
  VitTrainer vit_all(c, *store, all), vit_some(c, *store, some);
  ThreadPool pool(1);
  const auto pixels = Uniform(static_cast<size_t>(3 * c.image_size * c.image_size), 8, 0.0f, 1.0f);
  std::vector<float> out(static_cast<size_t>(vit_all.tokens() * vit_all.width()));
  const auto r = Uniform(out.size(), 9, -1.0f, 1.0f);
  vit_all.Forward(pool, pixels.data(), 1, out.data());
  vit_all.Backward(pool, r.data());
  vit_some.Forward(pool, pixels.data(), 1, out.data());
  vit_some.Backward(pool, r.data());
  ASSERT_LT(some.params().size(), all.params().size());
  for (const TrainParam& p : some.params()) {
    const TrainParam* q = all.Find(p.name);
    ASSERT_NE(q, nullptr);
    for (size_t i = 0; i < p.grad.size(); ++i) ASSERT_EQ(p.grad[i], q->grad[i]) << p.name << "[" << i << "]";
  }
}

TEST(VitTrainer, RejectsMisShapedTensorsAndBackwardBeforeForward) {
  const VitConfig c = TinyConfig(GeluKind::kErf);
  test::TinyCheckpoint ck(24);
  AddTower(ck, c);
  const auto store = ck.Open("vit_trainer_errors");
  ParamSet params;
  VitConfig wider = c;
  wider.mlp_hidden = 32;  // fc1/fc2 in the checkpoint are 16 wide
  EXPECT_THROW(VitTrainer(wider, *store, params), Error);
  VitConfig bad_heads = c;
  bad_heads.heads = 3;
  EXPECT_THROW(VitTrainer(bad_heads, *store, params), Error);
  VitTrainer vit(c, *store, params);
  ThreadPool pool(1);
  std::vector<float> dout(static_cast<size_t>(vit.tokens() * vit.width()));
  EXPECT_THROW(vit.Backward(pool, dout.data()), Error);
}

}  // namespace
}  // namespace dsvl::train
