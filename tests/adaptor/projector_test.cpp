// The three projectors on hand-made weights: the VL2 2x2 merge order and zero padding, the hybrid
// concat order, the GELU placement of each layer chain, and the errors for broken checkpoints.
#include "adaptor/projector.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "core/thread_pool.h"
#include "io/safetensors.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

class Checkpoint {
 public:
  void Set(const std::string& name, Shape shape, std::vector<float> v) { tensors_[name] = {shape, std::move(v)}; }
  std::unique_ptr<WeightStore> Open() const {
    static int counter = 0;
    const fs::path path = fs::temp_directory_path() /
                          ("dsvl_projector_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".safetensors");
    std::vector<TensorToWrite> list;
    for (const auto& [name, t] : tensors_) list.push_back({name, TensorView(DType::kF32, t.first, t.second.data())});
    WriteSafetensors(path.string(), list);
    auto store = WeightStore::Open(path.string());
    fs::remove(path);
    return store;
  }

 private:
  std::map<std::string, std::pair<Shape, std::vector<float>>> tensors_;
};

std::vector<float> Identity(int64_t n, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i * n + i)] = scale;
  return v;
}

double GeluErf(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }

// Linear -> GELU -> Linear where the pair passes the input through exactly: layers.0 adds 100 (GELU
// of values near 100 is the identity in f32), layers.2 subtracts it again. The output is then the
// merged 4C-vector itself.
ProjectorConfig PassThroughDownsample(Checkpoint& ck, int64_t C) {
  const int64_t K = 4 * C;
  ck.Set("projector.layers.0.weight", Shape{K, K}, Identity(K));
  ck.Set("projector.layers.0.bias", Shape{K}, std::vector<float>(static_cast<size_t>(K), 100.0f));
  ck.Set("projector.layers.2.weight", Shape{K, K}, Identity(K));
  ck.Set("projector.layers.2.bias", Shape{K}, std::vector<float>(static_cast<size_t>(K), -100.0f));
  ProjectorConfig c;
  c.prefix = "projector.";
  c.type = ProjectorType::kDownsampleMlpGelu;
  c.input_dim = C;
  c.n_embed = K;
  c.depth = 2;
  c.mlp_ratio = 1;
  c.downsample_ratio = 2;
  return c;
}

TEST(DownsampleProjector, MergesTwoByTwoChannelMajor) {
  // docs/model-facts.md, 'VL2 downsample projector' (F.unfold order; a 2-channel 4x4 ramp gives the
  // first token 0,1,4,5,16,17,20,21): token value = 16*c + y*4 + x.
  Checkpoint ck;
  const ProjectorConfig c = PassThroughDownsample(ck, 2);
  const auto store = ck.Open();
  const Projector proj(c, *store);
  ASSERT_EQ(proj.DownsampledGrid(4), 2);
  std::vector<float> x(4 * 4 * 2);
  for (int64_t t = 0; t < 16; ++t)
    for (int64_t ch = 0; ch < 2; ++ch) x[static_cast<size_t>(t * 2 + ch)] = static_cast<float>(16 * ch + t);
  std::vector<float> out(4 * 8);
  ThreadPool pool(2);
  proj.ForwardDownsample(pool, x.data(), 1, 4, out.data());
  const std::vector<float> first(out.begin(), out.begin() + 8);
  EXPECT_EQ(first, (std::vector<float>{0, 1, 4, 5, 16, 17, 20, 21}));
  // Token 1 is merged cell (0, 1): columns 2-3.
  EXPECT_EQ(std::vector<float>(out.begin() + 8, out.begin() + 16), (std::vector<float>{2, 3, 6, 7, 18, 19, 22, 23}));
  // Token 2 is merged cell (1, 0): rows 2-3.
  EXPECT_EQ(out[16], 8.0f);
  EXPECT_EQ(out[17], 9.0f);
}

TEST(DownsampleProjector, OddGridIsZeroPaddedBottomRight) {
  // 3x3 grid (like 27x27) -> padded to 4x4 -> 2x2 merged tokens; several views in one call.
  Checkpoint ck;
  const ProjectorConfig c = PassThroughDownsample(ck, 1);
  const auto store = ck.Open();
  const Projector proj(c, *store);
  ASSERT_EQ(proj.DownsampledGrid(3), 2);
  std::vector<float> x;
  for (int64_t view = 0; view < 2; ++view)
    for (int64_t t = 0; t < 9; ++t) x.push_back(static_cast<float>(1 + t + 10 * view));
  std::vector<float> out(2 * 4 * 4);
  ThreadPool pool(1);
  proj.ForwardDownsample(pool, x.data(), 2, 3, out.data());
  const std::vector<float> want = {1, 2, 4, 5, 3, 0, 6, 0, 7, 8, 0, 0, 9, 0, 0, 0,
                                   11, 12, 14, 15, 13, 0, 16, 0, 17, 18, 0, 0, 19, 0, 0, 0};
  EXPECT_EQ(out, want);
}

TEST(DownsampleProjector, DepthOneStillBuildsTwoLinears) {
  // modeling_deepseek_vl_v2.py appends GELU + Linear after the first Linear whatever the depth.
  Checkpoint ck;
  ProjectorConfig c = PassThroughDownsample(ck, 1);
  c.depth = 1;
  const auto store = ck.Open();
  EXPECT_NO_THROW(Projector(c, *store));
}

TEST(HybridProjector, ConcatenatesHighThenLowAndAppliesGeluFirst) {
  // input_dim 2, n_embed 4: high_up = 1x, low_up = 2x identity; layers.1 = identity.
  Checkpoint ck;
  ck.Set("aligner.high_up_proj.weight", Shape{2, 2}, Identity(2));
  ck.Set("aligner.high_up_proj.bias", Shape{2}, {0.0f, 0.0f});
  ck.Set("aligner.low_up_proj.weight", Shape{2, 2}, Identity(2, 2.0f));
  ck.Set("aligner.low_up_proj.bias", Shape{2}, {0.5f, 0.0f});
  ck.Set("aligner.layers.1.weight", Shape{4, 4}, Identity(4));
  ck.Set("aligner.layers.1.bias", Shape{4}, {0, 0, 0, 1});
  ProjectorConfig c;
  c.prefix = "aligner.";
  c.type = ProjectorType::kLowHighHybridSplitMlpGelu;
  c.input_dim = 2;
  c.n_embed = 4;
  c.depth = 2;
  const auto store = ck.Open();
  const Projector proj(c, *store);
  const std::vector<float> high = {1.0f, -1.0f}, low = {0.25f, 3.0f};
  std::vector<float> out(4);
  ThreadPool pool(1);
  proj.ForwardHybrid(pool, high.data(), low.data(), 1, out.data());
  const double want[4] = {GeluErf(1.0), GeluErf(-1.0), GeluErf(1.0), GeluErf(6.0) + 1.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[static_cast<size_t>(i)], want[i], 1e-6) << i;
  EXPECT_THROW(proj.Forward(pool, high.data(), 1, out.data()), Error);  // wrong entry point for the type
}

TEST(MlpGeluProjector, LinearGeluLinear) {
  Checkpoint ck;
  ck.Set("aligner.layers.0.weight", Shape{2, 3}, {1, 0, 0, 0, 1, 1});
  ck.Set("aligner.layers.0.bias", Shape{2}, {0.0f, -1.0f});
  ck.Set("aligner.layers.2.weight", Shape{2, 2}, {1, 1, 0, 2});
  ck.Set("aligner.layers.2.bias", Shape{2}, {0.0f, 0.5f});
  ProjectorConfig c;
  c.prefix = "aligner.";
  c.type = ProjectorType::kMlpGelu;
  c.input_dim = 3;
  c.n_embed = 2;
  c.depth = 2;
  const auto store = ck.Open();
  const Projector proj(c, *store);
  const std::vector<float> x = {0.5f, 2.0f, -0.5f, -1.0f, 0.0f, 3.0f};  // two rows
  std::vector<float> out(4);
  ThreadPool pool(2);
  proj.Forward(pool, x.data(), 2, out.data());
  for (int r = 0; r < 2; ++r) {
    const double h0 = GeluErf(x[static_cast<size_t>(3 * r)]);
    const double h1 = GeluErf(x[static_cast<size_t>(3 * r + 1)] + x[static_cast<size_t>(3 * r + 2)] - 1.0);
    EXPECT_NEAR(out[static_cast<size_t>(2 * r)], h0 + h1, 1e-6);
    EXPECT_NEAR(out[static_cast<size_t>(2 * r + 1)], 2 * h1 + 0.5, 1e-6);
  }
}

TEST(Projector, BrokenCheckpointsAreReported) {
  Checkpoint ck;
  ck.Set("aligner.layers.0.weight", Shape{2, 3}, std::vector<float>(6, 0.0f));
  ck.Set("aligner.layers.0.bias", Shape{2}, {0.0f, 0.0f});
  ProjectorConfig c;
  c.prefix = "aligner.";
  c.type = ProjectorType::kMlpGelu;
  c.input_dim = 3;
  c.n_embed = 2;
  c.depth = 2;
  {
    const auto store = ck.Open();
    try {
      Projector p(c, *store);
      FAIL() << "layers.2 is missing";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kNotFound);
      EXPECT_NE(std::string(e.what()).find("aligner.layers.2.weight"), std::string::npos) << e.what();
    }
  }
  ck.Set("aligner.layers.2.weight", Shape{2, 5}, std::vector<float>(10, 0.0f));  // input 5, but layers.0 gives 2
  ck.Set("aligner.layers.2.bias", Shape{2}, {0.0f, 0.0f});
  {
    const auto store = ck.Open();
    try {
      Projector p(c, *store);
      FAIL() << "layers.2 does not chain";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
      EXPECT_NE(std::string(e.what()).find("aligner.layers.2.weight"), std::string::npos) << e.what();
    }
  }
  ck.Set("aligner.layers.2.weight", Shape{3, 2}, std::vector<float>(6, 0.0f));  // output 3 != n_embed 2
  ck.Set("aligner.layers.2.bias", Shape{3}, {0.0f, 0.0f, 0.0f});
  const auto store = ck.Open();
  EXPECT_THROW(Projector(c, *store), Error);
}

}  // namespace
}  // namespace dsvl
