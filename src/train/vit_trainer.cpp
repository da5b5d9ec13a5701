#include "train/vit_trainer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "train/grad_ops.h"
#include "vision/vit.h"

namespace dsvl::train {
namespace {

void Resize(std::vector<float>& v, int64_t n) { v.assign(static_cast<size_t>(n), 0.0f); }

void CheckConfig(const VitConfig& c) {
  const bool ok = c.image_size > 0 && c.patch_size > 0 && c.patch_size <= c.image_size && c.width > 0 &&
                  c.layers > 0 && c.heads > 0 && c.width % c.heads == 0 && c.mlp_hidden > 0;
  if (!ok)
    Throw(ErrorCode::kCorruptData,
          ErrorContext{c.prefix + " vision config", "image/patch size, width, layers, heads, mlp_hidden",
                       "positive, patch <= image, heads dividing width", "", "training vision tower"});
}

// The fused qkv rows [M, 3W] hold q at 0, k at W, v at 2W; split/merge them as [M, W] each.
void SplitQkv(const float* qkv, int64_t M, int64_t W, float* q, float* k, float* v) {
  for (int64_t m = 0; m < M; ++m) {
    const float* r = qkv + m * 3 * W;
    std::copy_n(r, W, q + m * W);
    std::copy_n(r + W, W, k + m * W);
    std::copy_n(r + 2 * W, W, v + m * W);
  }
}

void MergeQkv(const float* q, const float* k, const float* v, int64_t M, int64_t W, float* qkv) {
  for (int64_t m = 0; m < M; ++m) {
    float* r = qkv + m * 3 * W;
    std::copy_n(q + m * W, W, r);
    std::copy_n(k + m * W, W, r + W);
    std::copy_n(v + m * W, W, r + 2 * W);
  }
}

}  // namespace

VitTrainer::VitTrainer(const VitConfig& config, const WeightStore& weights, ParamSet& params)
    : config_(config) {
  CheckConfig(config_);
  const std::string& p = config_.prefix;
  const int64_t W = config_.width, ps = config_.patch_size, F = config_.mlp_hidden;
  patch_w_ = WeightRef(params, weights, p + "patch_embed.proj.weight", Shape{W, 3, ps, ps});
  patch_b_ = WeightRef(params, weights, p + "patch_embed.proj.bias", Shape{W});
  pos_embed_ = WeightRef(params, weights, p + "pos_embed", Shape{1, tokens(), W});
  norm_w_ = WeightRef(params, weights, p + "norm.weight", Shape{W});
  norm_b_ = WeightRef(params, weights, p + "norm.bias", Shape{W});
  blocks_.resize(static_cast<size_t>(config_.layers));
  for (int64_t l = 0; l < config_.layers; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    Block& blk = blocks_[static_cast<size_t>(l)];
    blk.norm1_w = WeightRef(params, weights, b + "norm1.weight", Shape{W});
    blk.norm1_b = WeightRef(params, weights, b + "norm1.bias", Shape{W});
    blk.qkv_w = WeightRef(params, weights, b + "attn.qkv.weight", Shape{3 * W, W});
    blk.qkv_b = WeightRef(params, weights, b + "attn.qkv.bias", Shape{3 * W});
    blk.proj_w = WeightRef(params, weights, b + "attn.proj.weight", Shape{W, W});
    blk.proj_b = WeightRef(params, weights, b + "attn.proj.bias", Shape{W});
    blk.norm2_w = WeightRef(params, weights, b + "norm2.weight", Shape{W});
    blk.norm2_b = WeightRef(params, weights, b + "norm2.bias", Shape{W});
    blk.fc1_w = WeightRef(params, weights, b + "mlp.fc1.weight", Shape{F, W});
    blk.fc1_b = WeightRef(params, weights, b + "mlp.fc1.bias", Shape{F});
    blk.fc2_w = WeightRef(params, weights, b + "mlp.fc2.weight", Shape{W, F});
    blk.fc2_b = WeightRef(params, weights, b + "mlp.fc2.bias", Shape{W});
  }
  saved_.resize(blocks_.size());
}

void VitTrainer::Forward(ThreadPool& pool, const float* pixels, int64_t n, float* out) {
  if (n <= 0) Throw(ErrorCode::kInvalidArgument, "training vision tower: no images");
  n_ = n;
  const int64_t T = tokens(), W = config_.width, F = config_.mlp_hidden, M = n * T;
  const int64_t H = config_.heads, D = W / H, K = 3 * config_.patch_size * config_.patch_size;
  const float eps = config_.ln_eps;
  const AttentionShape as{T, H, H, D, 1.0f / std::sqrt(static_cast<float>(D)), false};

  Resize(patches_, M * K);
  VitIm2Patches(pool, config_, pixels, n, patches_.data());
  std::vector<float> h(static_cast<size_t>(M * W)), o(h.size()), qkv(static_cast<size_t>(M * 3 * W));
  LinearForward(pool, patches_.data(), M, K, patch_w_.view(), W, patch_b_.data(), h.data());
  const float* pos = pos_embed_.data();
  for (int64_t img = 0; img < n; ++img)
    for (int64_t i = 0; i < T * W; ++i) h[static_cast<size_t>(img * T * W + i)] += pos[i];

  for (size_t l = 0; l < blocks_.size(); ++l) {
    const Block& B = blocks_[l];
    Saved& S = saved_[l];
    S.x = h;
    Resize(S.n1, M * W); Resize(S.mean1, M); Resize(S.rstd1, M);
    LayerNormForward(h.data(), M, W, B.norm1_w.data(), B.norm1_b.data(), eps, S.n1.data(), S.mean1.data(),
                     S.rstd1.data());
    LinearForward(pool, S.n1.data(), M, W, B.qkv_w.view(), 3 * W, B.qkv_b.data(), qkv.data());
    Resize(S.q, M * W); Resize(S.k, M * W); Resize(S.v, M * W);
    SplitQkv(qkv.data(), M, W, S.q.data(), S.k.data(), S.v.data());
    Resize(S.attn, M * W); Resize(S.lse, n * H * T);
    for (int64_t img = 0; img < n; ++img) {  // full attention within each image
      const int64_t off = img * T * W;
      AttentionForward(pool, as, S.q.data() + off, S.k.data() + off, S.v.data() + off, S.attn.data() + off,
                       S.lse.data() + img * H * T);
    }
    LinearForward(pool, S.attn.data(), M, W, B.proj_w.view(), W, B.proj_b.data(), o.data());
    for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
    S.x_mid = h;
    Resize(S.n2, M * W); Resize(S.mean2, M); Resize(S.rstd2, M);
    LayerNormForward(h.data(), M, W, B.norm2_w.data(), B.norm2_b.data(), eps, S.n2.data(), S.mean2.data(),
                     S.rstd2.data());
    Resize(S.pre, M * F); Resize(S.act, M * F);
    LinearForward(pool, S.n2.data(), M, W, B.fc1_w.view(), F, B.fc1_b.data(), S.pre.data());
    if (config_.gelu == GeluKind::kTanh) {
      GeluTanhForward(S.pre.data(), M * F, S.act.data());
    } else {
      GeluErfForward(S.pre.data(), M * F, S.act.data());
    }
    LinearForward(pool, S.act.data(), M, F, B.fc2_w.view(), W, B.fc2_b.data(), o.data());
    for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
  }
  x_final_ = h;
  Resize(mean_final_, M); Resize(rstd_final_, M);
  LayerNormForward(h.data(), M, W, norm_w_.data(), norm_b_.data(), eps, out, mean_final_.data(),
                   rstd_final_.data());
}

void VitTrainer::Backward(ThreadPool& pool, const float* dout) {
  if (n_ <= 0) Throw(ErrorCode::kInvalidArgument, "training vision tower: Backward before Forward");
  const int64_t n = n_, T = tokens(), W = config_.width, F = config_.mlp_hidden, M = n * T;
  const int64_t H = config_.heads, D = W / H, K = 3 * config_.patch_size * config_.patch_size;
  const AttentionShape as{T, H, H, D, 1.0f / std::sqrt(static_cast<float>(D)), false};

  // dx: the gradient of the residual stream, walked from the top.
  std::vector<float> dx(static_cast<size_t>(M * W), 0.0f);
  LayerNormBackward(x_final_.data(), M, W, norm_w_.data(), mean_final_.data(), rstd_final_.data(), dout,
                    dx.data(), norm_w_.grad(), norm_b_.grad());
  std::vector<float> dn(dx.size()), dact(static_cast<size_t>(M * F)), dpre(dact.size()), dattn(dx.size()),
      dq(dx.size()), dk(dx.size()), dv(dx.size()), dqkv(static_cast<size_t>(M * 3 * W));
  for (size_t l = blocks_.size(); l-- > 0;) {
    const Block& B = blocks_[l];
    const Saved& S = saved_[l];
    // x_out = x_mid + fc2(gelu(fc1(norm2(x_mid))))
    std::fill(dact.begin(), dact.end(), 0.0f);
    LinearBackward(pool, S.act.data(), M, F, B.fc2_w.view(), W, dx.data(), dact.data(), B.fc2_w.grad(),
                   B.fc2_b.grad());
    std::fill(dpre.begin(), dpre.end(), 0.0f);
    if (config_.gelu == GeluKind::kTanh) {
      GeluTanhBackward(S.pre.data(), M * F, dact.data(), dpre.data());
    } else {
      GeluErfBackward(S.pre.data(), M * F, dact.data(), dpre.data());
    }
    std::fill(dn.begin(), dn.end(), 0.0f);
    LinearBackward(pool, S.n2.data(), M, W, B.fc1_w.view(), F, dpre.data(), dn.data(), B.fc1_w.grad(),
                   B.fc1_b.grad());
    LayerNormBackward(S.x_mid.data(), M, W, B.norm2_w.data(), S.mean2.data(), S.rstd2.data(), dn.data(),
                      dx.data(), B.norm2_w.grad(), B.norm2_b.grad());
    // x_mid = x + proj(attention(split(qkv(norm1(x)))))
    std::fill(dattn.begin(), dattn.end(), 0.0f);
    LinearBackward(pool, S.attn.data(), M, W, B.proj_w.view(), W, dx.data(), dattn.data(), B.proj_w.grad(),
                   B.proj_b.grad());
    std::fill(dq.begin(), dq.end(), 0.0f);
    std::fill(dk.begin(), dk.end(), 0.0f);
    std::fill(dv.begin(), dv.end(), 0.0f);
    for (int64_t img = 0; img < n; ++img) {
      const int64_t off = img * T * W;
      AttentionBackward(pool, as, S.q.data() + off, S.k.data() + off, S.v.data() + off, S.attn.data() + off,
                        S.lse.data() + img * H * T, dattn.data() + off, dq.data() + off, dk.data() + off,
                        dv.data() + off);
    }
    MergeQkv(dq.data(), dk.data(), dv.data(), M, W, dqkv.data());
    std::fill(dn.begin(), dn.end(), 0.0f);
    LinearBackward(pool, S.n1.data(), M, W, B.qkv_w.view(), 3 * W, dqkv.data(), dn.data(), B.qkv_w.grad(),
                   B.qkv_b.grad());
    LayerNormBackward(S.x.data(), M, W, B.norm1_w.data(), S.mean1.data(), S.rstd1.data(), dn.data(),
                      dx.data(), B.norm1_w.grad(), B.norm1_b.grad());
  }
  // x = patch_embed(patches) + pos_embed (broadcast over images).
  if (float* dpos = pos_embed_.grad())
    for (int64_t img = 0; img < n; ++img)
      for (int64_t i = 0; i < T * W; ++i) dpos[i] += dx[static_cast<size_t>(img * T * W + i)];
  LinearBackward(pool, patches_.data(), M, K, patch_w_.view(), W, dx.data(), nullptr, patch_w_.grad(),
                 patch_b_.grad());
}

}  // namespace dsvl::train
