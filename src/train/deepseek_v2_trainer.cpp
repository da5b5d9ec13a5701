#include "train/deepseek_v2_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "train/grad_ops.h"

namespace dsvl::train {
namespace {

void Resize(std::vector<float>& v, int64_t n) { v.assign(static_cast<size_t>(n), 0.0f); }

void Require(bool ok, const char* field, const std::string& expected, int64_t actual) {
  if (!ok)
    Throw(ErrorCode::kCorruptData, ErrorContext{"training: language model config", field, expected,
                                                std::to_string(actual), ""});
}

LlmConfig Validated(LlmConfig c) {
  Require(c.hidden_size > 0, "hidden_size", "> 0", c.hidden_size);
  Require(c.num_heads > 0, "num_attention_heads", "> 0", c.num_heads);
  Require(c.vocab_size > 0, "vocab_size", "> 0", c.vocab_size);
  if (!(c.moe.aux_loss_alpha >= 0.0f))
    Throw(ErrorCode::kInvalidArgument, "training: aux_loss_alpha must be >= 0");
  if (c.attention == AttentionKind::kMha) {
    if (c.num_kv_heads <= 0) c.num_kv_heads = c.num_heads;
    if (c.head_dim <= 0) c.head_dim = c.hidden_size / c.num_heads;
    Require(c.num_heads % c.num_kv_heads == 0, "num_key_value_heads", "a divisor of num_attention_heads",
            c.num_kv_heads);
    Require(c.head_dim > 0 && c.head_dim % 2 == 0, "head_dim", "even and > 0", c.head_dim);
  } else {
    Require(c.mla.kv_lora_rank > 0, "kv_lora_rank", "> 0", c.mla.kv_lora_rank);
    Require(c.mla.qk_nope_head_dim > 0, "qk_nope_head_dim", "> 0", c.mla.qk_nope_head_dim);
    Require(c.mla.qk_rope_head_dim > 0 && c.mla.qk_rope_head_dim % 2 == 0, "qk_rope_head_dim", "even and > 0",
            c.mla.qk_rope_head_dim);
    Require(c.mla.v_head_dim > 0, "v_head_dim", "> 0", c.mla.v_head_dim);
  }
  return c;
}

}  // namespace

DeepseekV2Trainer::DeepseekV2Trainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params)
    : config_(Validated(config)) {
  const LlmConfig& c = config_;
  const std::string p = c.prefix + "model.";
  embed_ = WeightRef(params, weights, p + "embed_tokens.weight");
  final_norm_ = WeightRef(params, weights, p + "norm.weight");
  lm_head_ = WeightRef(params, weights, c.prefix + "lm_head.weight");
  const int64_t d = c.hidden_size;
  auto check = [&](const WeightRef& w, const std::string& name, const Shape& shape) {
    if (w.shape() != shape)
      Throw(ErrorCode::kCorruptData, ErrorContext{"training decoder", name, shape.ToString(), w.shape().ToString(), ""});
  };
  check(embed_, p + "embed_tokens.weight", Shape{c.vocab_size, d});
  check(final_norm_, p + "norm.weight", Shape{d});
  check(lm_head_, c.prefix + "lm_head.weight", Shape{c.vocab_size, d});
  layers_.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string lp = p + "layers." + std::to_string(l) + ".";
    Layer& L = layers_[static_cast<size_t>(l)];
    auto get = [&](WeightRef& w, const std::string& name, const Shape& shape) {
      w = WeightRef(params, weights, lp + name);
      check(w, lp + name, shape);
    };
    get(L.input_norm, "input_layernorm.weight", Shape{d});
    get(L.post_norm, "post_attention_layernorm.weight", Shape{d});
    if (c.attention == AttentionKind::kMla) {
      L.mla = std::make_unique<MlaTrainer>(c, weights, params, lp + "self_attn.");
    } else {
      const int64_t qw = c.num_heads * c.head_dim, kw = c.num_kv_heads * c.head_dim;
      get(L.wq, "self_attn.q_proj.weight", Shape{qw, d});
      get(L.wk, "self_attn.k_proj.weight", Shape{kw, d});
      get(L.wv, "self_attn.v_proj.weight", Shape{kw, d});
      get(L.wo, "self_attn.o_proj.weight", Shape{d, qw});
    }
    if (c.moe.IsMoeLayer(l)) {
      L.moe = std::make_unique<MoeTrainer>(c, weights, params, lp + "mlp.");
    } else {
      get(L.w_gate, "mlp.gate_proj.weight", Shape{c.intermediate_size, d});
      get(L.w_up, "mlp.up_proj.weight", Shape{c.intermediate_size, d});
      get(L.w_down, "mlp.down_proj.weight", Shape{d, c.intermediate_size});
    }
  }
  saved_.resize(layers_.size());
}

void DeepseekV2Trainer::Embed(const int64_t* ids, int64_t T, float* out) const {
  const int64_t d = config_.hidden_size;
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= config_.vocab_size)
      Throw(ErrorCode::kInvalidArgument, "training: token id " + std::to_string(ids[t]) +
                                             " outside the vocabulary (" + std::to_string(config_.vocab_size) + ")");
    std::memcpy(out + t * d, embed_.data() + ids[t] * d, static_cast<size_t>(d) * sizeof(float));
  }
}

std::vector<int32_t> DeepseekV2Trainer::routing() const {
  std::vector<int32_t> all;
  for (const Layer& L : layers_)
    if (L.moe) all.insert(all.end(), L.moe->routing().begin(), L.moe->routing().end());
  return all;
}

double DeepseekV2Trainer::Run(ThreadPool& pool, const float* embeds, const int64_t* ids, int64_t T,
                              const Targets& targets, bool backward, float loss_scale, float* d_embeds) {
  const LlmConfig& c = config_;
  const bool mla = c.attention == AttentionKind::kMla;
  const int64_t d = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const int64_t Hq = c.num_heads, Hkv = mla ? 0 : c.num_kv_heads, D = mla ? 0 : c.head_dim;
  const int64_t qw = Hq * D, kw = Hkv * D;
  const float eps = c.rms_norm_eps;
  const AttentionShape as{T, Hq, std::max<int64_t>(Hkv, 1), D, D > 0 ? 1.0f / std::sqrt(static_cast<float>(D)) : 0.0f,
                          true};
  if (T <= 0) Throw(ErrorCode::kInvalidArgument, "training: empty sequence");

  // RoPE tables for positions 0..T-1 over the rotated width (MHA head_dim, MLA qk_rope_head_dim).
  const int64_t rope_dim = mla ? c.mla.qk_rope_head_dim : D;
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
    if (mla) {
      L.mla->Forward(pool, S.n1.data(), T, cos.data(), sin.data(), o.data());
    } else {
      Resize(S.q, T * qw); Resize(S.k, T * kw); Resize(S.v, T * kw);
      LinearForward(pool, S.n1.data(), T, d, L.wq.data(), qw, nullptr, S.q.data());
      LinearForward(pool, S.n1.data(), T, d, L.wk.data(), kw, nullptr, S.k.data());
      LinearForward(pool, S.n1.data(), T, d, L.wv.data(), kw, nullptr, S.v.data());
      RopeRotateHalf(S.q.data(), T, Hq, D, D, cos.data(), sin.data(), false);
      RopeRotateHalf(S.k.data(), T, Hkv, D, D, cos.data(), sin.data(), false);
      Resize(S.attn, T * qw); Resize(S.lse, Hq * T);
      AttentionForward(pool, as, S.q.data(), S.k.data(), S.v.data(), S.attn.data(), S.lse.data());
      LinearForward(pool, S.attn.data(), T, qw, L.wo.data(), d, nullptr, o.data());
    }
    for (int64_t i = 0; i < T * d; ++i) h[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
    S.x_mid = h;
    Resize(S.n2, T * d); Resize(S.rstd2, T);
    RmsNormForward(h.data(), T, d, L.post_norm.data(), eps, S.n2.data(), S.rstd2.data());
    if (L.moe) {
      last_aux_ += L.moe->Forward(pool, S.n2.data(), T, o.data());
    } else {
      Resize(S.g, T * I); Resize(S.u, T * I); Resize(S.s, T * I);
      LinearForward(pool, S.n2.data(), T, d, L.w_gate.data(), I, nullptr, S.g.data());
      LinearForward(pool, S.n2.data(), T, d, L.w_up.data(), I, nullptr, S.u.data());
      SwiGluForward(S.g.data(), S.u.data(), T * I, S.s.data());
      LinearForward(pool, S.s.data(), T, I, L.w_down.data(), d, nullptr, o.data());
    }
    for (int64_t i = 0; i < T * d; ++i) h[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
  }
  // Final norm, logits of the target rows, loss; the backward starts from dh, the gradient of the
  // residual stream, walked from the top.
  std::vector<float> dh(backward ? static_cast<size_t>(T * d) : 0, 0.0f);
  const double loss = LmHeadLoss(pool, h.data(), T, d, V, targets, final_norm_, lm_head_, eps, loss_scale,
                                 backward ? dh.data() : nullptr);
  if (!backward) return loss;

  std::vector<float> dn(static_cast<size_t>(T * d)), dattn(static_cast<size_t>(T * qw)), dq(dattn.size()),
      dk(static_cast<size_t>(T * kw)), dv(dk.size()), ds, dg, du;
  if (I > 0) { ds.resize(static_cast<size_t>(T * I)); dg.resize(ds.size()); du.resize(ds.size()); }
  for (size_t li = layers_.size(); li-- > 0;) {
    Layer& L = layers_[li];
    const Saved& S = saved_[li];
    // h = x_mid + ffn(n2)
    std::fill(dn.begin(), dn.end(), 0.0f);
    if (L.moe) {
      L.moe->Backward(pool, dh.data(), dn.data());
    } else {
      std::fill(ds.begin(), ds.end(), 0.0f);
      LinearBackward(pool, S.s.data(), T, I, L.w_down.data(), d, dh.data(), ds.data(), L.w_down.grad(), nullptr);
      SwiGluBackward(S.g.data(), S.u.data(), T * I, ds.data(), dg.data(), du.data());
      LinearBackward(pool, S.n2.data(), T, d, L.w_gate.data(), I, dg.data(), dn.data(), L.w_gate.grad(), nullptr);
      LinearBackward(pool, S.n2.data(), T, d, L.w_up.data(), I, du.data(), dn.data(), L.w_up.grad(), nullptr);
    }
    RmsNormBackward(S.x_mid.data(), T, d, L.post_norm.data(), S.rstd2.data(), dn.data(), dh.data(),
                    L.post_norm.grad());
    // x_mid = x + attention(n1)
    std::fill(dn.begin(), dn.end(), 0.0f);
    if (mla) {
      L.mla->Backward(pool, dh.data(), dn.data());
    } else {
      std::fill(dattn.begin(), dattn.end(), 0.0f);
      LinearBackward(pool, S.attn.data(), T, qw, L.wo.data(), d, dh.data(), dattn.data(), L.wo.grad(), nullptr);
      std::fill(dq.begin(), dq.end(), 0.0f);
      std::fill(dk.begin(), dk.end(), 0.0f);
      std::fill(dv.begin(), dv.end(), 0.0f);
      AttentionBackward(pool, as, S.q.data(), S.k.data(), S.v.data(), S.attn.data(), S.lse.data(), dattn.data(),
                        dq.data(), dk.data(), dv.data());
      RopeRotateHalf(dq.data(), T, Hq, D, D, cos.data(), sin.data(), true);
      RopeRotateHalf(dk.data(), T, Hkv, D, D, cos.data(), sin.data(), true);
      LinearBackward(pool, S.n1.data(), T, d, L.wq.data(), qw, dq.data(), dn.data(), L.wq.grad(), nullptr);
      LinearBackward(pool, S.n1.data(), T, d, L.wk.data(), kw, dk.data(), dn.data(), L.wk.grad(), nullptr);
      LinearBackward(pool, S.n1.data(), T, d, L.wv.data(), kw, dv.data(), dn.data(), L.wv.grad(), nullptr);
    }
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
