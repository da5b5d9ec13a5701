// SigLIP ViT and SAM-B encoder on tiny random checkpoints against straightforward double-precision
// re-implementations of the official modules written from docs/model-facts.md ('VL1 SAM-B branch',
// 'VL1 SigLIP-L branch', 'VL2 SigLIP-SO400M'):
// explicit zero padding + window partition, get_rel_pos indexing, the hd path added after the
// downsample convs (as sam.py does; dsvl folds it in before, which must agree), naive convs and
// bilinear. Plus batching, in-tower normalisation and the error paths.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "core/thread_pool.h"
#include "io/safetensors.h"
#include "vision/hybrid_tower.h"
#include "vision/sam.h"
#include "vision/vit.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using Vec = std::vector<double>;

// Random f32 tensors written to a temporary .safetensors file and opened as a WeightStore.
class TinyCheckpoint {
 public:
  explicit TinyCheckpoint(uint32_t seed) : rng_(seed) {}
  void Random(const std::string& name, Shape shape, float scale = 0.3f) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(static_cast<size_t>(shape.numel()));
    for (float& x : v) x = u(rng_);
    Set(name, shape, std::move(v));
  }
  void Set(const std::string& name, Shape shape, std::vector<float> v) { tensors_[name] = {shape, std::move(v)}; }
  void Erase(const std::string& name) { tensors_.erase(name); }
  Vec Get(const std::string& name) const {
    const auto& v = tensors_.at(name).second;
    return Vec(v.begin(), v.end());
  }
  std::unique_ptr<WeightStore> Open() const {
    static int counter = 0;
    const fs::path path = fs::temp_directory_path() /
                          ("dsvl_towers_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".safetensors");
    std::vector<TensorToWrite> list;
    for (const auto& [name, t] : tensors_) list.push_back({name, TensorView(DType::kF32, t.first, t.second.data())});
    WriteSafetensors(path.string(), list);
    auto store = WeightStore::Open(path.string());
    fs::remove(path);  // the mapping stays valid
    return store;
  }

 private:
  std::mt19937 rng_;
  std::map<std::string, std::pair<Shape, std::vector<float>>> tensors_;
};

// ---- naive double-precision building blocks (row-major [rows, cols]) ----

Vec LinearRows(const Vec& x, int64_t rows, int64_t in, const Vec& w, const Vec* b, int64_t out) {
  Vec y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b ? (*b)[static_cast<size_t>(o)] : 0.0;
      for (int64_t k = 0; k < in; ++k) acc += x[static_cast<size_t>(r * in + k)] * w[static_cast<size_t>(o * in + k)];
      y[static_cast<size_t>(r * out + o)] = acc;
    }
  return y;
}

Vec LayerNormRows(const Vec& x, int64_t rows, int64_t cols, const Vec& w, const Vec& b, double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) mean += x[static_cast<size_t>(r * cols + c)];
    mean /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) var += std::pow(x[static_cast<size_t>(r * cols + c)] - mean, 2);
    var /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r * cols + c);
      y[i] = (x[i] - mean) / std::sqrt(var + eps) * w[static_cast<size_t>(c)] + b[static_cast<size_t>(c)];
    }
  }
  return y;
}

double Gelu(double v, bool tanh_approx) {
  if (tanh_approx) return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
}

void SoftmaxInPlace(double* s, int64_t n) {
  double mx = *std::max_element(s, s + n), sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
  for (int64_t j = 0; j < n; ++j) s[j] /= sum;
}

// Conv2d on CHW, zero padding.
Vec Conv(const Vec& in, int64_t C, int64_t H, int64_t W, const Vec& w, const Vec* b, int64_t O, int64_t k,
         int64_t stride, int64_t pad, int64_t* Ho_out, int64_t* Wo_out) {
  const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  Vec out(static_cast<size_t>(O * Ho * Wo));
  for (int64_t o = 0; o < O; ++o)
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) {
        double acc = b ? (*b)[static_cast<size_t>(o)] : 0.0;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = y * stride - pad + ky, ix = x * stride - pad + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              acc += in[static_cast<size_t>((c * H + iy) * W + ix)] *
                     w[static_cast<size_t>(((o * C + c) * k + ky) * k + kx)];
            }
        out[static_cast<size_t>((o * Ho + y) * Wo + x)] = acc;
      }
  *Ho_out = Ho;
  *Wo_out = Wo;
  return out;
}

// Patch-embedding conv (k = s = p) of one CHW image -> tokens [G*G, O], row-major.
Vec PatchTokens(const Vec& img, int64_t S, int64_t p, const Vec& w, const Vec& b, int64_t O) {
  int64_t G = 0, G2 = 0;
  const Vec chw = Conv(img, 3, S, S, w, &b, O, p, p, 0, &G, &G2);
  Vec t(static_cast<size_t>(G * G * O));
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < G * G; ++i) t[static_cast<size_t>(i * O + o)] = chw[static_cast<size_t>(o * G * G + i)];
  return t;
}

void ExpectClose(const std::vector<float>& got, const Vec& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  EXPECT_LE(worst, tol) << what;
}

std::vector<float> RandomImage(int64_t S, uint32_t seed, float lo = 0.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(3 * S * S));
  for (float& x : v) x = u(rng);
  return v;
}

// ---------------------------------------------------------------- SigLIP ViT

VitConfig TinyVit(GeluKind gelu) {
  VitConfig c;
  c.prefix = "vt.";
  c.image_size = 10;  // patch 4 -> grid 2; the last 2 pixel rows/cols are unused (like 384 / 14)
  c.patch_size = 4;
  c.width = 8;
  c.layers = 2;
  c.heads = 2;
  c.mlp_hidden = 12;
  c.gelu = gelu;
  return c;
}

void AddVitWeights(TinyCheckpoint& ck, const VitConfig& c, int64_t blocks) {
  const std::string& p = c.prefix;
  const int64_t W = c.width, F = c.mlp_hidden;
  ck.Random(p + "patch_embed.proj.weight", Shape{W, 3, c.patch_size, c.patch_size});
  ck.Random(p + "patch_embed.proj.bias", Shape{W});
  ck.Random(p + "pos_embed", Shape{1, c.num_patches(), W});
  ck.Random(p + "norm.weight", Shape{W}, 1.0f);
  ck.Random(p + "norm.bias", Shape{W});
  for (int64_t l = 0; l < blocks; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    for (const char* n : {"norm1", "norm2"}) {
      ck.Random(b + n + ".weight", Shape{W}, 1.0f);
      ck.Random(b + n + ".bias", Shape{W});
    }
    ck.Random(b + "attn.qkv.weight", Shape{3 * W, W});
    ck.Random(b + "attn.qkv.bias", Shape{3 * W});
    ck.Random(b + "attn.proj.weight", Shape{W, W});
    ck.Random(b + "attn.proj.bias", Shape{W});
    ck.Random(b + "mlp.fc1.weight", Shape{F, W});
    ck.Random(b + "mlp.fc1.bias", Shape{F});
    ck.Random(b + "mlp.fc2.weight", Shape{W, F});
    ck.Random(b + "mlp.fc2.bias", Shape{W});
  }
}

// timm VisionTransformer.forward_features without class token, in double.
Vec NaiveVit(const TinyCheckpoint& ck, const VitConfig& c, std::vector<float> image) {
  const std::string& p = c.prefix;
  const int64_t W = c.width, T = c.num_patches(), H = c.heads, D = W / H, F = c.mlp_hidden;
  Vec img(image.begin(), image.end());
  if (c.normalize)
    for (int64_t i = 0; i < static_cast<int64_t>(img.size()); ++i) {
      const int64_t ch = i / (c.image_size * c.image_size);
      img[static_cast<size_t>(i)] = (img[static_cast<size_t>(i)] - c.mean[ch]) / c.std[ch];
    }
  Vec x = PatchTokens(img, c.image_size, c.patch_size, ck.Get(p + "patch_embed.proj.weight"),
                      ck.Get(p + "patch_embed.proj.bias"), W);
  const Vec pos = ck.Get(p + "pos_embed");
  for (size_t i = 0; i < x.size(); ++i) x[i] += pos[i];
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    Vec h = LayerNormRows(x, T, W, ck.Get(b + "norm1.weight"), ck.Get(b + "norm1.bias"), c.ln_eps);
    const Vec qb = ck.Get(b + "attn.qkv.bias");
    const Vec qkv = LinearRows(h, T, W, ck.Get(b + "attn.qkv.weight"), &qb, 3 * W);
    Vec a(static_cast<size_t>(T * W));
    for (int64_t hd = 0; hd < H; ++hd)
      for (int64_t i = 0; i < T; ++i) {
        Vec s(static_cast<size_t>(T));
        for (int64_t j = 0; j < T; ++j) {
          double d = 0;
          for (int64_t e = 0; e < D; ++e)
            d += qkv[static_cast<size_t>(i * 3 * W + hd * D + e)] * qkv[static_cast<size_t>(j * 3 * W + W + hd * D + e)];
          s[static_cast<size_t>(j)] = d / std::sqrt(static_cast<double>(D));
        }
        SoftmaxInPlace(s.data(), T);
        for (int64_t e = 0; e < D; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < T; ++j) acc += s[static_cast<size_t>(j)] * qkv[static_cast<size_t>(j * 3 * W + 2 * W + hd * D + e)];
          a[static_cast<size_t>(i * W + hd * D + e)] = acc;
        }
      }
    const Vec pb = ck.Get(b + "attn.proj.bias");
    const Vec proj = LinearRows(a, T, W, ck.Get(b + "attn.proj.weight"), &pb, W);
    for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    h = LayerNormRows(x, T, W, ck.Get(b + "norm2.weight"), ck.Get(b + "norm2.bias"), c.ln_eps);
    const Vec b1 = ck.Get(b + "mlp.fc1.bias"), b2 = ck.Get(b + "mlp.fc2.bias");
    Vec m = LinearRows(h, T, W, ck.Get(b + "mlp.fc1.weight"), &b1, F);
    for (double& v : m) v = Gelu(v, c.gelu == GeluKind::kTanh);
    const Vec y = LinearRows(m, T, F, ck.Get(b + "mlp.fc2.weight"), &b2, W);
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  }
  return LayerNormRows(x, T, W, ck.Get(p + "norm.weight"), ck.Get(p + "norm.bias"), c.ln_eps);
}

class VitTest : public testing::TestWithParam<GeluKind> {};

TEST_P(VitTest, MatchesNaiveReference) {
  const VitConfig c = TinyVit(GetParam());
  TinyCheckpoint ck(7);
  AddVitWeights(ck, c, 3);  // one block more than run: select_layer truncation must ignore it
  const auto store = ck.Open();
  const VisionTransformer vit(c, *store);
  ThreadPool pool(2);
  const auto img = RandomImage(c.image_size, 1, -1.0f, 1.0f);
  std::vector<float> out(static_cast<size_t>(vit.tokens() * vit.width()));
  vit.Forward(pool, img.data(), 1, out.data());
  ExpectClose(out, NaiveVit(ck, c, img), 2e-5, "ViT");
}

INSTANTIATE_TEST_SUITE_P(Gelu, VitTest, testing::Values(GeluKind::kErf, GeluKind::kTanh),
                         [](const auto& info) { return info.param == GeluKind::kErf ? "Erf" : "Tanh"; });

TEST(Vit, BatchEqualsOneImageAtATime) {
  const VitConfig c = TinyVit(GeluKind::kTanh);
  TinyCheckpoint ck(11);
  AddVitWeights(ck, c, 2);
  const auto store = ck.Open();
  const VisionTransformer vit(c, *store);
  ThreadPool pool(2);
  const int64_t per_image = 3 * c.image_size * c.image_size, per_out = vit.tokens() * vit.width();
  std::vector<float> batch;
  for (uint32_t s = 0; s < 3; ++s) {
    const auto img = RandomImage(c.image_size, 100 + s, -1.0f, 1.0f);
    batch.insert(batch.end(), img.begin(), img.end());
  }
  std::vector<float> together(static_cast<size_t>(3 * per_out));
  vit.Forward(pool, batch.data(), 3, together.data());
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<float> alone(static_cast<size_t>(per_out));
    vit.Forward(pool, batch.data() + i * per_image, 1, alone.data());
    const Vec want(alone.begin(), alone.end());
    ExpectClose(std::vector<float>(together.begin() + i * per_out, together.begin() + (i + 1) * per_out), want, 1e-6,
                "image " + std::to_string(i));
  }
}

TEST(Vit, NormalisesInsideWhenConfigured) {
  VitConfig c = TinyVit(GeluKind::kErf);
  c.normalize = true;
  c.mean = {0.48145466f, 0.4578275f, 0.40821073f};
  c.std = {0.26862954f, 0.26130258f, 0.27577711f};
  TinyCheckpoint ck(5);
  AddVitWeights(ck, c, 2);
  const auto store = ck.Open();
  const VisionTransformer vit(c, *store);
  ThreadPool pool(1);
  const auto img = RandomImage(c.image_size, 3);
  std::vector<float> out(static_cast<size_t>(vit.tokens() * vit.width()));
  vit.Forward(pool, img.data(), 1, out.data());
  ExpectClose(out, NaiveVit(ck, c, img), 2e-5, "normalised ViT");
}

TEST(Vit, MissingOrMisshapedTensorsAreReported) {
  const VitConfig c = TinyVit(GeluKind::kErf);
  {
    TinyCheckpoint ck(1);
    AddVitWeights(ck, c, 2);
    ck.Erase("vt.blocks.1.mlp.fc2.bias");
    const auto store = ck.Open();
    try {
      VisionTransformer vit(c, *store);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kNotFound);
      EXPECT_NE(std::string(e.what()).find("vt.blocks.1.mlp.fc2.bias"), std::string::npos) << e.what();
    }
  }
  {
    TinyCheckpoint ck(1);
    AddVitWeights(ck, c, 2);
    ck.Random("vt.pos_embed", Shape{1, 9, c.width});  // a 3x3 grid where the config says 2x2
    const auto store = ck.Open();
    try {
      VisionTransformer vit(c, *store);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
      EXPECT_NE(std::string(e.what()).find("vt.pos_embed"), std::string::npos) << e.what();
    }
  }
  VitConfig bad = c;
  bad.heads = 3;  // 8 is not divisible by 3
  TinyCheckpoint ck(1);
  AddVitWeights(ck, c, 2);
  const auto store = ck.Open();
  EXPECT_THROW(VisionTransformer(bad, *store), Error);
}

// ---------------------------------------------------------------- SAM

SamConfig TinySam() {
  SamConfig c;
  c.prefix = "sam.";
  c.image_size = 32;  // patch 4 -> 8x8 grid; window 3 pads it to 9x9 (3x3 windows)
  c.patch_size = 4;
  c.width = 8;
  c.depth = 3;
  c.heads = 2;
  c.mlp_hidden = 16;
  c.window_size = 3;
  c.global_attn_indexes = {1};
  c.neck_channels = 4;
  c.downsample_channels = {5, 6};
  return c;
}

void AddSamWeights(TinyCheckpoint& ck, const SamConfig& c, float hd_alpha) {
  const std::string& p = c.prefix;
  const int64_t C = c.width, G = c.image_size / c.patch_size, D = C / c.heads, F = c.mlp_hidden;
  const int64_t Cn = c.neck_channels;
  ck.Random(p + "patch_embed.proj.weight", Shape{C, 3, c.patch_size, c.patch_size});
  ck.Random(p + "patch_embed.proj.bias", Shape{C});
  ck.Random(p + "pos_embed", Shape{1, G, G, C});
  for (int64_t l = 0; l < c.depth; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    const bool global = std::count(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), l) > 0;
    const int64_t S = global ? G : c.window_size;
    for (const char* n : {"norm1", "norm2"}) {
      ck.Random(b + n + ".weight", Shape{C}, 1.0f);
      ck.Random(b + n + ".bias", Shape{C});
    }
    ck.Random(b + "attn.qkv.weight", Shape{3 * C, C});
    ck.Random(b + "attn.qkv.bias", Shape{3 * C}, 1.0f);  // large: padded tokens' k/v are exactly this
    ck.Random(b + "attn.proj.weight", Shape{C, C});
    ck.Random(b + "attn.proj.bias", Shape{C});
    ck.Random(b + "attn.rel_pos_h", Shape{2 * S - 1, D}, 1.0f);
    ck.Random(b + "attn.rel_pos_w", Shape{2 * S - 1, D}, 1.0f);
    ck.Random(b + "mlp.lin1.weight", Shape{F, C});
    ck.Random(b + "mlp.lin1.bias", Shape{F});
    ck.Random(b + "mlp.lin2.weight", Shape{C, F});
    ck.Random(b + "mlp.lin2.bias", Shape{C});
  }
  for (const char* n : {"neck", "neck_hd"}) {
    const std::string b = p + n;
    ck.Random(b + ".0.weight", Shape{Cn, C, 1, 1});
    ck.Random(b + ".1.weight", Shape{Cn}, 1.0f);
    ck.Random(b + ".1.bias", Shape{Cn});
    ck.Random(b + ".2.weight", Shape{Cn, Cn, 3, 3});
    ck.Random(b + ".3.weight", Shape{Cn}, 1.0f);
    ck.Random(b + ".3.bias", Shape{Cn});
  }
  ck.Random(p + "downsamples.0.weight", Shape{c.downsample_channels[0], Cn, 3, 3});
  ck.Random(p + "downsamples.1.weight", Shape{c.downsample_channels[1], c.downsample_channels[0], 3, 3});
  ck.Set(p + "hd_alpha_downsamples", Shape{1}, {hd_alpha});
}

// sam.py Attention on one [S, S] window of tokens [S*S, C] (already normed, zero-padded).
Vec NaiveSamAttention(const TinyCheckpoint& ck, const std::string& b, const Vec& win, int64_t S, int64_t C,
                      int64_t H) {
  const int64_t T = S * S, D = C / H;
  const Vec qb = ck.Get(b + "attn.qkv.bias");
  const Vec qkv = LinearRows(win, T, C, ck.Get(b + "attn.qkv.weight"), &qb, 3 * C);
  const Vec rh = ck.Get(b + "attn.rel_pos_h"), rw = ck.Get(b + "attn.rel_pos_w");
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  Vec out(static_cast<size_t>(T * C));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < T; ++i) {
      const double* q = &qkv[static_cast<size_t>(i * 3 * C + h * D)];
      Vec s(static_cast<size_t>(T));
      for (int64_t j = 0; j < T; ++j) {
        const double* k = &qkv[static_cast<size_t>(j * 3 * C + C + h * D)];
        double d = 0, relh = 0, relw = 0;
        // get_rel_pos with equal q/k sizes: table row q - k + (S - 1).
        const int64_t dh = i / S - j / S + S - 1, dw = i % S - j % S + S - 1;
        for (int64_t e = 0; e < D; ++e) {
          d += q[e] * scale * k[e];
          relh += q[e] * rh[static_cast<size_t>(dh * D + e)];
          relw += q[e] * rw[static_cast<size_t>(dw * D + e)];
        }
        s[static_cast<size_t>(j)] = d + relh + relw;
      }
      SoftmaxInPlace(s.data(), T);
      for (int64_t e = 0; e < D; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < T; ++j) acc += s[static_cast<size_t>(j)] * qkv[static_cast<size_t>(j * 3 * C + 2 * C + h * D + e)];
        out[static_cast<size_t>(i * C + h * D + e)] = acc;
      }
    }
  const Vec pb = ck.Get(b + "attn.proj.bias");
  return LinearRows(out, T, C, ck.Get(b + "attn.proj.weight"), &pb, C);
}

// LayerNorm2d on CHW: per pixel over channels.
Vec LayerNorm2d(const Vec& x, int64_t C, int64_t HW, const Vec& w, const Vec& b) {
  Vec y(x.size());
  for (int64_t p = 0; p < HW; ++p) {
    double u = 0, s = 0;
    for (int64_t c = 0; c < C; ++c) u += x[static_cast<size_t>(c * HW + p)];
    u /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) s += std::pow(x[static_cast<size_t>(c * HW + p)] - u, 2);
    s /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      const size_t i = static_cast<size_t>(c * HW + p);
      y[i] = w[static_cast<size_t>(c)] * (x[i] - u) / std::sqrt(s + 1e-6) + b[static_cast<size_t>(c)];
    }
  }
  return y;
}

// F.interpolate(mode="bilinear", align_corners=False) on CHW.
Vec Bilinear(const Vec& in, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  Vec out(static_cast<size_t>(C * Ho * Wo));
  auto src = [](int64_t o, int64_t n_in, int64_t n_out, int64_t* i0, int64_t* i1, double* f) {
    double s = (static_cast<double>(o) + 0.5) * static_cast<double>(n_in) / static_cast<double>(n_out) - 0.5;
    if (s < 0) s = 0;
    *i0 = std::min<int64_t>(static_cast<int64_t>(s), n_in - 1);
    *i1 = std::min<int64_t>(*i0 + 1, n_in - 1);
    *f = s - static_cast<double>(*i0);
  };
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) {
        int64_t y0, y1, x0, x1;
        double fy, fx;
        src(y, H, Ho, &y0, &y1, &fy);
        src(x, W, Wo, &x0, &x1, &fx);
        auto at = [&](int64_t yy, int64_t xx) { return in[static_cast<size_t>((c * H + yy) * W + xx)]; };
        out[static_cast<size_t>((c * Ho + y) * Wo + x)] =
            (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      }
  return out;
}

// neck -> bilinear 96 -> downsamples, for NHWC tokens [G*G, C]; returns CHW [D2, 24, 24].
Vec NaiveNeckAndDown(const TinyCheckpoint& ck, const SamConfig& c, const std::string& neck, const Vec& tokens,
                     int64_t G) {
  const std::string& p = c.prefix;
  const int64_t C = c.width, Cn = c.neck_channels, D1 = c.downsample_channels[0], D2 = c.downsample_channels[1];
  Vec chw(static_cast<size_t>(C * G * G));
  for (int64_t i = 0; i < G * G; ++i)
    for (int64_t ch = 0; ch < C; ++ch) chw[static_cast<size_t>(ch * G * G + i)] = tokens[static_cast<size_t>(i * C + ch)];
  int64_t h = 0, w = 0;
  Vec x = Conv(chw, C, G, G, ck.Get(p + neck + ".0.weight"), nullptr, Cn, 1, 1, 0, &h, &w);
  x = LayerNorm2d(x, Cn, G * G, ck.Get(p + neck + ".1.weight"), ck.Get(p + neck + ".1.bias"));
  x = Conv(x, Cn, G, G, ck.Get(p + neck + ".2.weight"), nullptr, Cn, 3, 1, 1, &h, &w);
  x = LayerNorm2d(x, Cn, G * G, ck.Get(p + neck + ".3.weight"), ck.Get(p + neck + ".3.bias"));
  x = Bilinear(x, Cn, G, G, 96, 96);
  x = Conv(x, Cn, 96, 96, ck.Get(p + "downsamples.0.weight"), nullptr, D1, 3, 2, 1, &h, &w);
  return Conv(x, D1, h, w, ck.Get(p + "downsamples.1.weight"), nullptr, D2, 3, 2, 1, &h, &w);
}

// ImageEncoderViT.forward (sam.py) in double; returns [576, D2] (rearrange "c h w -> (h w) c").
Vec NaiveSam(const TinyCheckpoint& ck, const SamConfig& c, const std::vector<float>& image) {
  const std::string& p = c.prefix;
  const int64_t C = c.width, G = c.image_size / c.patch_size, F = c.mlp_hidden;
  Vec img(image.begin(), image.end());
  for (size_t i = 0; i < img.size(); ++i) {
    const size_t ch = i / static_cast<size_t>(c.image_size * c.image_size);
    img[i] = (img[i] - c.mean[ch]) / c.std[ch];
  }
  Vec x = PatchTokens(img, c.image_size, c.patch_size, ck.Get(p + "patch_embed.proj.weight"),
                      ck.Get(p + "patch_embed.proj.bias"), C);
  const Vec pos = ck.Get(p + "pos_embed");
  for (size_t i = 0; i < x.size(); ++i) x[i] += pos[i];
  Vec first_global;
  for (int64_t l = 0; l < c.depth; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    const bool global = std::count(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), l) > 0;
    const Vec h = LayerNormRows(x, G * G, C, ck.Get(b + "norm1.weight"), ck.Get(b + "norm1.bias"), c.ln_eps);
    Vec attn(static_cast<size_t>(G * G * C));
    if (global) {
      attn = NaiveSamAttention(ck, b, h, G, C, c.heads);
    } else {
      // window_partition: zero-pad to Hp x Wp, run each window, window_unpartition + crop.
      const int64_t S = c.window_size, Gp = (G + S - 1) / S * S;
      for (int64_t wy = 0; wy < Gp / S; ++wy)
        for (int64_t wx = 0; wx < Gp / S; ++wx) {
          Vec win(static_cast<size_t>(S * S * C), 0.0);
          for (int64_t j = 0; j < S * S; ++j) {
            const int64_t gy = wy * S + j / S, gx = wx * S + j % S;
            if (gy < G && gx < G)
              std::copy_n(&h[static_cast<size_t>((gy * G + gx) * C)], C, &win[static_cast<size_t>(j * C)]);
          }
          const Vec o = NaiveSamAttention(ck, b, win, S, C, c.heads);
          for (int64_t j = 0; j < S * S; ++j) {
            const int64_t gy = wy * S + j / S, gx = wx * S + j % S;
            if (gy < G && gx < G)
              std::copy_n(&o[static_cast<size_t>(j * C)], C, &attn[static_cast<size_t>((gy * G + gx) * C)]);
          }
        }
    }
    for (size_t i = 0; i < x.size(); ++i) x[i] += attn[i];
    const Vec h2 = LayerNormRows(x, G * G, C, ck.Get(b + "norm2.weight"), ck.Get(b + "norm2.bias"), c.ln_eps);
    const Vec b1 = ck.Get(b + "mlp.lin1.bias"), b2 = ck.Get(b + "mlp.lin2.bias");
    Vec m = LinearRows(h2, G * G, C, ck.Get(b + "mlp.lin1.weight"), &b1, F);
    for (double& v : m) v = Gelu(v, false);
    const Vec y = LinearRows(m, G * G, F, ck.Get(b + "mlp.lin2.weight"), &b2, C);
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
    if (global && first_global.empty()) first_global = x;
  }
  Vec out = NaiveNeckAndDown(ck, c, "neck", x, G);
  const Vec hd = NaiveNeckAndDown(ck, c, "neck_hd", first_global, G);
  const double alpha = ck.Get(p + "hd_alpha_downsamples")[0];
  for (size_t i = 0; i < out.size(); ++i) out[i] += hd[i] * alpha;
  const int64_t D2 = c.downsample_channels[1], T = static_cast<int64_t>(out.size()) / D2;
  Vec tokens(out.size());
  for (int64_t ch = 0; ch < D2; ++ch)
    for (int64_t t = 0; t < T; ++t) tokens[static_cast<size_t>(t * D2 + ch)] = out[static_cast<size_t>(ch * T + t)];
  return tokens;
}

TEST(Sam, MatchesNaiveReferenceWithPaddedWindowsAndHdPath) {
  const SamConfig c = TinySam();
  TinyCheckpoint ck(21);
  AddSamWeights(ck, c, 0.7f);
  const auto store = ck.Open();
  const SamEncoder sam(c, *store);
  EXPECT_EQ(sam.out_tokens(), 576);
  EXPECT_EQ(sam.out_channels(), 6);
  ThreadPool pool(2);
  const auto img = RandomImage(c.image_size, 9);
  std::vector<float> out(static_cast<size_t>(sam.out_tokens() * sam.out_channels()));
  sam.Forward(pool, img.data(), out.data());
  ExpectClose(out, NaiveSam(ck, c, img), 5e-5, "SAM");
}

TEST(Sam, RejectsBadConfigsAndTables) {
  const SamConfig c = TinySam();
  TinyCheckpoint ck(3);
  AddSamWeights(ck, c, 0.5f);
  {
    const auto store = ck.Open();
    SamConfig bad = c;
    bad.global_attn_indexes = {3};  // depth is 3
    EXPECT_THROW(SamEncoder(bad, *store), Error);
    bad = c;
    bad.heads = 3;
    EXPECT_THROW(SamEncoder(bad, *store), Error);
  }
  // A windowed block's rel-pos table must cover 2 * window - 1 offsets.
  ck.Random("sam.blocks.0.attn.rel_pos_h", Shape{7, 4});
  const auto store = ck.Open();
  try {
    SamEncoder sam(c, *store);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
    EXPECT_NE(std::string(e.what()).find("rel_pos_h"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- hybrid tower

TEST(HybridTower, RejectsBranchesWithDifferentTokenCounts) {
  const SamConfig sc = TinySam();  // 576 output tokens
  VitConfig vc = TinyVit(GeluKind::kErf);  // 4 tokens
  TinyCheckpoint ck(4);
  AddSamWeights(ck, sc, 0.5f);
  AddVitWeights(ck, vc, 2);
  const auto store = ck.Open();
  EXPECT_THROW(HybridTower(sc, vc, *store), Error);
}

}  // namespace
}  // namespace dsvl
