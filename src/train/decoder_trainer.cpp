#include "train/decoder_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "llm/decoder.h"
#include "train/grad_ops.h"

namespace dsvl::train {
namespace {

void Resize(std::vector<float>& v, int64_t n) { v.assign(static_cast<size_t>(n), 0.0f); }

// The inference decoder's checks, plus the training-only auxiliary-loss weight.
LlmConfig Validated(const LlmConfig& config) {
  LlmConfig c = ValidatedDecoderConfig(config);
  if (!(c.moe.aux_loss_alpha >= 0.0f))
    Throw(ErrorCode::kInvalidArgument, "training: aux_loss_alpha must be >= 0");
  return c;
}

}  // namespace

DecoderTrainer::DecoderTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params)
    : config_(Validated(config)) {
  const LlmConfig& c = config_;
  const std::string p = c.prefix + "model.";
  const int64_t d = c.hidden_size;
  embed_ = WeightRef(params, weights, p + "embed_tokens.weight", Shape{c.vocab_size, d});
  final_norm_ = WeightRef(params, weights, p + "norm.weight", Shape{d});
  lm_head_ = WeightRef(params, weights, c.prefix + "lm_head.weight", Shape{c.vocab_size, d});
  layers_.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string lp = p + "layers." + std::to_string(l) + ".";
    Layer& L = layers_[static_cast<size_t>(l)];
    L.input_norm = WeightRef(params, weights, lp + "input_layernorm.weight", Shape{d});
    L.post_norm = WeightRef(params, weights, lp + "post_attention_layernorm.weight", Shape{d});
    if (c.attention == AttentionKind::kMla)
      L.mla = std::make_unique<MlaTrainer>(c, weights, params, lp + "self_attn.");
    else
      L.mha = std::make_unique<MhaTrainer>(c, weights, params, lp + "self_attn.");
    if (c.moe.IsMoeLayer(l))
      L.moe = std::make_unique<MoeTrainer>(c, weights, params, lp + "mlp.");
    else
      L.mlp = std::make_unique<SwiGluMlp>(weights, params, lp + "mlp.", d, c.intermediate_size);
  }
  saved_.resize(layers_.size());
}

void DecoderTrainer::Embed(const int64_t* ids, int64_t T, float* out) const {
  const int64_t d = config_.hidden_size;
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= config_.vocab_size)
      Throw(ErrorCode::kInvalidArgument, "training: token id " + std::to_string(ids[t]) +
                                             " outside the vocabulary (" + std::to_string(config_.vocab_size) + ")");
    kernels::ToF32(embed_.view(), ids[t] * d, d, out + t * d);  // a frozen table stays in the checkpoint
  }
}

std::vector<int32_t> DecoderTrainer::routing() const {
  std::vector<int32_t> all;
  for (const Layer& L : layers_)
    if (L.moe) all.insert(all.end(), L.moe->routing().begin(), L.moe->routing().end());
  return all;
}

double DecoderTrainer::Run(ThreadPool& pool, const float* embeds, const int64_t* ids, int64_t T,
                              const Targets& targets, bool backward, float loss_scale, float* d_embeds) {
  const LlmConfig& c = config_;
  const bool mla = c.attention == AttentionKind::kMla;
  const int64_t d = c.hidden_size, V = c.vocab_size;
  const float eps = c.rms_norm_eps;
  if (T <= 0) Throw(ErrorCode::kInvalidArgument, "training: empty sequence");

  // RoPE tables for positions 0..T-1 over the rotated width (MHA head_dim, MLA qk_rope_head_dim), as
  // inference computes them.
  const int64_t rope_dim = mla ? c.mla.qk_rope_head_dim : c.head_dim;
  std::vector<int64_t> positions(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) positions[static_cast<size_t>(t)] = t;
  std::vector<float> cos(static_cast<size_t>(T * rope_dim / 2)), sin(cos.size());
  kernels::FillRopeTable(positions.data(), T, rope_dim, c.rope_theta, cos.data(), sin.data());

  // Forward, keeping what the backward needs.
  last_aux_ = 0.0;
  std::vector<float> h(embeds, embeds + T * d), o(static_cast<size_t>(T * d));
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    Saved& S = saved_[l];
    S.x = h;
    Resize(S.n1, T * d); Resize(S.rstd1, T);
    RmsNormForward(h.data(), T, d, L.input_norm.data(), eps, S.n1.data(), S.rstd1.data());
    if (L.mla) L.mla->Forward(pool, S.n1.data(), T, cos.data(), sin.data(), o.data());
    else L.mha->Forward(pool, S.n1.data(), T, cos.data(), sin.data(), o.data());
    for (int64_t i = 0; i < T * d; ++i) h[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
    S.x_mid = h;
    Resize(S.n2, T * d); Resize(S.rstd2, T);
    RmsNormForward(h.data(), T, d, L.post_norm.data(), eps, S.n2.data(), S.rstd2.data());
    if (L.moe) last_aux_ += L.moe->Forward(pool, S.n2.data(), T, o.data());
    else L.mlp->Forward(pool, S.n2.data(), T, o.data());
    for (int64_t i = 0; i < T * d; ++i) h[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
  }
  // Final norm, logits of the target rows, loss; the backward starts from dh, the gradient of the
  // residual stream, walked from the top.
  std::vector<float> dh(backward ? static_cast<size_t>(T * d) : 0, 0.0f);
  const double loss = LmHeadLoss(pool, h.data(), T, d, V, targets, final_norm_, lm_head_, eps, loss_scale,
                                 backward ? dh.data() : nullptr);
  if (!backward) return loss;

  std::vector<float> dn(static_cast<size_t>(T * d));
  for (size_t li = layers_.size(); li-- > 0;) {
    Layer& L = layers_[li];
    const Saved& S = saved_[li];
    // h = x_mid + ffn(n2)
    std::fill(dn.begin(), dn.end(), 0.0f);
    if (L.moe) L.moe->Backward(pool, dh.data(), dn.data());
    else L.mlp->Backward(pool, dh.data(), dn.data());
    RmsNormBackward(S.x_mid.data(), T, d, L.post_norm.data(), S.rstd2.data(), dn.data(), dh.data(),
                    L.post_norm.grad());
    // x_mid = x + attention(n1)
    std::fill(dn.begin(), dn.end(), 0.0f);
    if (L.mla) L.mla->Backward(pool, dh.data(), dn.data());
    else L.mha->Backward(pool, dh.data(), dn.data());
    RmsNormBackward(S.x.data(), T, d, L.input_norm.data(), S.rstd1.data(), dn.data(), dh.data(), L.input_norm.grad());
  }
  if (d_embeds) std::copy(dh.begin(), dh.end(), d_embeds);
  if (ids && embed_.grad())
    for (int64_t t = 0; t < T; ++t)
      if (ids[t] >= 0)
        for (int64_t i = 0; i < d; ++i) embed_.grad()[ids[t] * d + i] += dh[static_cast<size_t>(t * d + i)];
  return loss;
}

}  // namespace dsvl::train
