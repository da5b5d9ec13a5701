#include "vision/vit.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {

namespace {

void CheckPositive(const VitConfig& c) {
  auto bad = [&](const char* field, int64_t v) {
    Throw(ErrorCode::kCorruptData,
          ErrorContext{c.prefix + " vision config", field, "a positive value", std::to_string(v), ""});
  };
  if (c.image_size <= 0) bad("image_size", c.image_size);
  if (c.patch_size <= 0 || c.patch_size > c.image_size) bad("patch_size", c.patch_size);
  if (c.width <= 0) bad("width", c.width);
  if (c.layers <= 0) bad("layers", c.layers);
  if (c.heads <= 0 || c.width % c.heads != 0) {
    Throw(ErrorCode::kCorruptData, ErrorContext{c.prefix + " vision config", "heads",
                                                "a divisor of width " + std::to_string(c.width),
                                                std::to_string(c.heads), ""});
  }
  if (c.mlp_hidden <= 0) bad("mlp_hidden", c.mlp_hidden);
}

}  // namespace

VisionTransformer::VisionTransformer(const VitConfig& config, const WeightStore& weights)
    : config_(config), mlp_hidden_(config.mlp_hidden) {
  CheckPositive(config_);
  const std::string& p = config_.prefix;
  const int64_t W = config_.width, ps = config_.patch_size, F = mlp_hidden_;
  patch_w_ = weights.Get(p + "patch_embed.proj.weight", Shape{W, 3, ps, ps});
  patch_b_ = weights.Get(p + "patch_embed.proj.bias", Shape{W});
  pos_embed_ = weights.Get(p + "pos_embed", Shape{1, tokens(), W});
  norm_w_ = weights.Get(p + "norm.weight", Shape{W});
  norm_b_ = weights.Get(p + "norm.bias", Shape{W});
  blocks_.resize(static_cast<size_t>(config_.layers));
  for (int64_t l = 0; l < config_.layers; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    Block& blk = blocks_[static_cast<size_t>(l)];
    blk.norm1_w = weights.Get(b + "norm1.weight", Shape{W});
    blk.norm1_b = weights.Get(b + "norm1.bias", Shape{W});
    blk.qkv_w = weights.Get(b + "attn.qkv.weight", Shape{3 * W, W});
    blk.qkv_b = weights.Get(b + "attn.qkv.bias", Shape{3 * W});
    blk.proj_w = weights.Get(b + "attn.proj.weight", Shape{W, W});
    blk.proj_b = weights.Get(b + "attn.proj.bias", Shape{W});
    blk.norm2_w = weights.Get(b + "norm2.weight", Shape{W});
    blk.norm2_b = weights.Get(b + "norm2.bias", Shape{W});
    blk.fc1_w = weights.Get(b + "mlp.fc1.weight", Shape{F, W});
    blk.fc1_b = weights.Get(b + "mlp.fc1.bias", Shape{F});
    blk.fc2_w = weights.Get(b + "mlp.fc2.weight", Shape{W, F});
    blk.fc2_b = weights.Get(b + "mlp.fc2.bias", Shape{W});
  }
}

void VitIm2Patches(ThreadPool& pool, const VitConfig& config, const float* pixels, int64_t n, float* patches) {
  const int64_t S = config.image_size, ps = config.patch_size, G = config.grid();
  const int64_t K = 3 * ps * ps;
  const bool normalize = config.normalize;
  // Normalize(mean, std) in torchvision is (x - mean) / std in the tensor's dtype (f32 here).
  const std::array<float, 3> mean = config.mean, sd = config.std;
  pool.ParallelFor(n * G, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t img = r / G, py = r % G;
      const float* src = pixels + img * 3 * S * S;
      for (int64_t px = 0; px < G; ++px) {
        float* dst = patches + ((img * G + py) * G + px) * K;
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t ky = 0; ky < ps; ++ky) {
            const float* row = src + (c * S + py * ps + ky) * S + px * ps;
            for (int64_t kx = 0; kx < ps; ++kx)
              *dst++ = normalize ? (row[kx] - mean[c]) / sd[c] : row[kx];
          }
      }
    }
  });
}

void VisionTransformer::Forward(ThreadPool& pool, const float* pixels, int64_t n, float* out, YieldFn yield) const {
  if (n <= 0) return;
  const int64_t T = tokens(), W = config_.width, F = mlp_hidden_, M = n * T;
  const int64_t H = config_.heads, D = W / H, K = 3 * config_.patch_size * config_.patch_size;
  const float eps = config_.ln_eps;

  // One allocation set per call, sized for the whole batch.
  Tensor x = Tensor::Empty(DType::kF32, Shape{M, W});
  Tensor h = Tensor::Empty(DType::kF32, Shape{M, W});
  Tensor attn = Tensor::Empty(DType::kF32, Shape{M, W});
  Tensor qkv = Tensor::Empty(DType::kF32, Shape{M, 3 * W});
  Tensor wide = Tensor::Empty(DType::kF32, Shape{M, std::max(F, K)});  // patches, then MLP hidden
  Tensor pos = Tensor::Empty(DType::kF32, Shape{T, W});

  VitIm2Patches(pool, config_, pixels, n, wide.f32());
  kernels::Linear(pool, wide.f32(), M, K, patch_w_.Reshape(Shape{W, K}), &patch_b_, x.f32());
  kernels::ToF32(pos_embed_, 0, T * W, pos.f32());
  for (int64_t img = 0; img < n; ++img) kernels::Add(pool, x.f32() + img * T * W, pos.f32(), T * W);
  yield();

  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (const Block& blk : blocks_) {
    kernels::LayerNorm(pool, x.f32(), M, W, blk.norm1_w, blk.norm1_b, eps, h.f32());
    kernels::Linear(pool, h.f32(), M, W, blk.qkv_w, &blk.qkv_b, qkv.f32());
    // qkv row layout is (3, heads, head_dim): q at 0, k at W, v at 2W.
    for (int64_t img = 0; img < n; ++img) {
      const float* base = qkv.f32() + img * T * 3 * W;
      kernels::AttentionArgs a{base,         3 * W, base + W, 3 * W, base + 2 * W, 3 * W,
                               attn.f32() + img * T * W, W, T, T, H, H, D, D, scale, false};
      kernels::Attention(pool, a);
    }
    kernels::Linear(pool, attn.f32(), M, W, blk.proj_w, &blk.proj_b, h.f32());
    kernels::Add(pool, x.f32(), h.f32(), M * W);
    yield();

    kernels::LayerNorm(pool, x.f32(), M, W, blk.norm2_w, blk.norm2_b, eps, h.f32());
    kernels::Linear(pool, h.f32(), M, W, blk.fc1_w, &blk.fc1_b, wide.f32());
    if (config_.gelu == GeluKind::kTanh) {
      kernels::GeluTanh(pool, wide.f32(), M * F);
    } else {
      kernels::GeluErf(pool, wide.f32(), M * F);
    }
    kernels::Linear(pool, wide.f32(), M, F, blk.fc2_w, &blk.fc2_b, h.f32());
    kernels::Add(pool, x.f32(), h.f32(), M * W);
    yield();
  }
  kernels::LayerNorm(pool, x.f32(), M, W, norm_w_, norm_b_, eps, out);
}

}  // namespace dsvl
