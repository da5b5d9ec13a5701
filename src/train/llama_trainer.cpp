#include "train/llama_trainer.h"

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

}  // namespace

LlamaTrainer::LlamaTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params)
    : config_(config) {
  if (config.attention != AttentionKind::kMha || config.moe.n_routed_experts > 0)
    Throw(ErrorCode::kUnsupported, "training: only the Llama decoder (MHA, dense MLP) is implemented");
  const std::string p = config.prefix + "model.";
  embed_ = WeightRef(params, weights, p + "embed_tokens.weight");
  final_norm_ = WeightRef(params, weights, p + "norm.weight");
  lm_head_ = WeightRef(params, weights, config.prefix + "lm_head.weight");
  layers_.resize(static_cast<size_t>(config.num_layers));
  for (int64_t l = 0; l < config.num_layers; ++l) {
    const std::string lp = p + "layers." + std::to_string(l) + ".";
    Layer& L = layers_[static_cast<size_t>(l)];
    L.input_norm = WeightRef(params, weights, lp + "input_layernorm.weight");
    L.post_norm = WeightRef(params, weights, lp + "post_attention_layernorm.weight");
    L.wq = WeightRef(params, weights, lp + "self_attn.q_proj.weight");
    L.wk = WeightRef(params, weights, lp + "self_attn.k_proj.weight");
    L.wv = WeightRef(params, weights, lp + "self_attn.v_proj.weight");
    L.wo = WeightRef(params, weights, lp + "self_attn.o_proj.weight");
    L.w_gate = WeightRef(params, weights, lp + "mlp.gate_proj.weight");
    L.w_up = WeightRef(params, weights, lp + "mlp.up_proj.weight");
    L.w_down = WeightRef(params, weights, lp + "mlp.down_proj.weight");
  }
  saved_.resize(layers_.size());
}

void LlamaTrainer::Embed(const int64_t* ids, int64_t T, float* out) const {
  const int64_t d = config_.hidden_size;
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= config_.vocab_size)
      Throw(ErrorCode::kInvalidArgument, "training: token id " + std::to_string(ids[t]) +
                                             " outside the vocabulary (" + std::to_string(config_.vocab_size) + ")");
    std::memcpy(out + t * d, embed_.data() + ids[t] * d, static_cast<size_t>(d) * sizeof(float));
  }
}

double LlamaTrainer::Run(ThreadPool& pool, const float* embeds, const int64_t* ids, int64_t T,
                         const Targets& targets, bool backward, float loss_scale, float* d_embeds) {
  const int64_t d = config_.hidden_size, Hq = config_.num_heads, Hkv = config_.num_kv_heads;
  const int64_t D = config_.head_dim, I = config_.intermediate_size, V = config_.vocab_size;
  const int64_t qw = Hq * D, kw = Hkv * D;
  const float eps = config_.rms_norm_eps;
  const AttentionShape as{T, Hq, Hkv, D, 1.0f / std::sqrt(static_cast<float>(D)), true};

  // RoPE tables for positions 0..T-1 (as inference computes them).
  std::vector<int64_t> positions(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) positions[static_cast<size_t>(t)] = t;
  std::vector<float> cos(static_cast<size_t>(T * D / 2)), sin(cos.size());
  kernels::FillRopeTable(positions.data(), T, D, config_.rope_theta, cos.data(), sin.data());

  // Forward, keeping what the backward needs.
  std::vector<float> h(embeds, embeds + T * d);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    Saved& S = saved_[l];
    S.x = h;
    Resize(S.n1, T * d); Resize(S.rstd1, T);
    RmsNormForward(h.data(), T, d, L.input_norm.data(), eps, S.n1.data(), S.rstd1.data());
    Resize(S.q, T * qw); Resize(S.k, T * kw); Resize(S.v, T * kw);
    LinearForward(pool, S.n1.data(), T, d, L.wq.data(), qw, nullptr, S.q.data());
    LinearForward(pool, S.n1.data(), T, d, L.wk.data(), kw, nullptr, S.k.data());
    LinearForward(pool, S.n1.data(), T, d, L.wv.data(), kw, nullptr, S.v.data());
    RopeRotateHalf(S.q.data(), T, Hq, D, D, cos.data(), sin.data(), false);
    RopeRotateHalf(S.k.data(), T, Hkv, D, D, cos.data(), sin.data(), false);
    Resize(S.attn, T * qw); Resize(S.lse, Hq * T);
    AttentionForward(pool, as, S.q.data(), S.k.data(), S.v.data(), S.attn.data(), S.lse.data());
    std::vector<float> o(static_cast<size_t>(T * d));
    LinearForward(pool, S.attn.data(), T, qw, L.wo.data(), d, nullptr, o.data());
    for (int64_t i = 0; i < T * d; ++i) h[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
    S.x_mid = h;
    Resize(S.n2, T * d); Resize(S.rstd2, T);
    RmsNormForward(h.data(), T, d, L.post_norm.data(), eps, S.n2.data(), S.rstd2.data());
    Resize(S.g, T * I); Resize(S.u, T * I); Resize(S.s, T * I);
    LinearForward(pool, S.n2.data(), T, d, L.w_gate.data(), I, nullptr, S.g.data());
    LinearForward(pool, S.n2.data(), T, d, L.w_up.data(), I, nullptr, S.u.data());
    SwiGluForward(S.g.data(), S.u.data(), T * I, S.s.data());
    LinearForward(pool, S.s.data(), T, I, L.w_down.data(), d, nullptr, o.data());
    for (int64_t i = 0; i < T * d; ++i) h[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
  }
  // Final norm, logits of the target rows, loss; the backward starts from dh, the gradient of the
  // residual stream, walked from the top.
  std::vector<float> dh(backward ? static_cast<size_t>(T * d) : 0, 0.0f);
  const double loss = LmHeadLoss(pool, h.data(), T, d, V, targets, final_norm_, lm_head_, eps, loss_scale,
                                 backward ? dh.data() : nullptr);
  if (!backward) return loss;

  std::vector<float> dn(static_cast<size_t>(T * d)), ds(static_cast<size_t>(T * I)), dg(ds.size()),
      du(ds.size()), dattn(static_cast<size_t>(T * qw)), dq(dattn.size()), dk(static_cast<size_t>(T * kw)),
      dv(dk.size());
  for (size_t li = layers_.size(); li-- > 0;) {
    const Layer& L = layers_[li];
    const Saved& S = saved_[li];
    // h = x_mid + down(swiglu(gate(n2), up(n2)))
    std::fill(ds.begin(), ds.end(), 0.0f);
    LinearBackward(pool, S.s.data(), T, I, L.w_down.data(), d, dh.data(), ds.data(), L.w_down.grad(), nullptr);
    SwiGluBackward(S.g.data(), S.u.data(), T * I, ds.data(), dg.data(), du.data());
    std::fill(dn.begin(), dn.end(), 0.0f);
    LinearBackward(pool, S.n2.data(), T, d, L.w_gate.data(), I, dg.data(), dn.data(), L.w_gate.grad(), nullptr);
    LinearBackward(pool, S.n2.data(), T, d, L.w_up.data(), I, du.data(), dn.data(), L.w_up.grad(), nullptr);
    RmsNormBackward(S.x_mid.data(), T, d, L.post_norm.data(), S.rstd2.data(), dn.data(), dh.data(),
                    L.post_norm.grad());
    // x_mid = x + o_proj(attention(rope(q(n1)), rope(k(n1)), v(n1)))
    std::fill(dattn.begin(), dattn.end(), 0.0f);
    LinearBackward(pool, S.attn.data(), T, qw, L.wo.data(), d, dh.data(), dattn.data(), L.wo.grad(), nullptr);
    std::fill(dq.begin(), dq.end(), 0.0f);
    std::fill(dk.begin(), dk.end(), 0.0f);
    std::fill(dv.begin(), dv.end(), 0.0f);
    AttentionBackward(pool, as, S.q.data(), S.k.data(), S.v.data(), S.attn.data(), S.lse.data(),
                      dattn.data(), dq.data(), dk.data(), dv.data());
    RopeRotateHalf(dq.data(), T, Hq, D, D, cos.data(), sin.data(), true);
    RopeRotateHalf(dk.data(), T, Hkv, D, D, cos.data(), sin.data(), true);
    std::fill(dn.begin(), dn.end(), 0.0f);
    LinearBackward(pool, S.n1.data(), T, d, L.wq.data(), qw, dq.data(), dn.data(), L.wq.grad(), nullptr);
    LinearBackward(pool, S.n1.data(), T, d, L.wk.data(), kw, dk.data(), dn.data(), L.wk.grad(), nullptr);
    LinearBackward(pool, S.n1.data(), T, d, L.wv.data(), kw, dv.data(), dn.data(), L.wv.grad(), nullptr);
    RmsNormBackward(S.x.data(), T, d, L.input_norm.data(), S.rstd1.data(), dn.data(), dh.data(),
                    L.input_norm.grad());
  }
  if (d_embeds) std::copy(dh.begin(), dh.end(), d_embeds);
  if (ids && embed_.grad())
    for (int64_t t = 0; t < T; ++t)
      if (ids[t] >= 0)
        for (int64_t i = 0; i < d; ++i) embed_.grad()[ids[t] * d + i] += dh[static_cast<size_t>(t * d + i)];
  return loss;
}

}  // namespace dsvl::train
