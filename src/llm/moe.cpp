#include "llm/moe.h"

#include <algorithm>
#include <cstring>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {
namespace {

std::vector<float> ReadBias(const WeightStore& weights, const std::string& name, int64_t E, bool round_to_bf16) {
  const TensorView& b = weights.Get(name, Shape{E});
  std::vector<float> v(static_cast<size_t>(E));
  kernels::ToF32(b, 0, E, v.data());
  if (round_to_bf16)
    for (float& x : v) x = RoundToBf16(x);
  return v;
}

}  // namespace

MoeBlock::MoeBlock(const LlmConfig& config, const WeightStore& weights, const std::string& prefix,
                   bool round_bias_to_bf16)
    : hidden_(config.hidden_size),
      n_experts_(config.moe.n_routed_experts),
      top_k_(config.moe.experts_per_token),
      moe_inter_(config.moe.moe_intermediate_size) {
  gate_weight_ = weights.Get(prefix + "gate.weight", Shape{n_experts_, hidden_});
  std::vector<float> bias;
  if (config.moe.topk_method == MoeTopkMethod::kNoauxTc)
    bias = ReadBias(weights, prefix + "gate.e_score_correction_bias", n_experts_, round_bias_to_bf16);
  router_ = std::make_unique<MoeRouter>(config.moe, std::move(bias));
  experts_.reserve(static_cast<size_t>(n_experts_));
  for (int64_t e = 0; e < n_experts_; ++e)
    experts_.emplace_back(weights, prefix + "experts." + std::to_string(e) + ".", hidden_, moe_inter_);
  if (config.moe.n_shared_experts > 0) {
    has_shared_ = true;
    shared_ = DenseMlp(weights, prefix + "shared_experts.", hidden_, moe_inter_ * config.moe.n_shared_experts);
  }
}

void MoeBlock::Forward(ThreadPool& pool, const float* xn, int64_t T, float* out, Workspace& ws) const {
  const int64_t H = hidden_, E = n_experts_, k = top_k_, R = T * k;  // R routed rows
  const int64_t I = moe_inter_, S = has_shared_ ? shared_.intermediate() : 0;
  int s = Workspace::kBlock;
  float* logits = ws.F32(s++, T * E);
  float* weights = ws.F32(s++, R);
  float* rows_in = ws.F32(s++, R * H);   // token rows grouped by expert
  float* rows_out = ws.F32(s++, R * H);  // expert outputs, same order
  // Routed experts' hidden rows [R, I], then the shared experts' [T, S]: one buffer so that a
  // single SwiGlu covers both.
  float* gate_buf = ws.F32(s++, R * I + T * S);
  float* up_buf = ws.F32(s++, R * I + T * S);
  float* shared_gate = gate_buf + R * I;
  float* shared_up = up_buf + R * I;
  float* shared_out = rows_in;  // rows_in is dead once the gate/up pass is done; holds >= T * H
  int32_t* experts = ws.I32(0, R);
  int32_t* offsets = ws.I32(1, E + 1);
  int32_t* slot_of = ws.I32(2, R);  // routed pick (t, j) -> its row in rows_in / rows_out
  int32_t* fill = ws.I32(3, E);

  // Router in fp32 (the official gate computes h.float() @ W.float()ᵀ).
  kernels::Linear(pool, xn, T, H, gate_weight_, nullptr, logits);
  router_->Route(logits, T, experts, weights);

  // Counting sort of the picks by expert.
  std::fill_n(offsets, E + 1, 0);
  for (int64_t r = 0; r < R; ++r) ++offsets[experts[r] + 1];
  for (int64_t e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
  std::copy_n(offsets, E, fill);
  for (int64_t r = 0; r < R; ++r) {
    const int32_t row = fill[experts[r]]++;
    slot_of[r] = row;
    std::memcpy(rows_in + row * H, xn + (r / k) * H, static_cast<size_t>(H) * sizeof(float));
  }

  // Every active expert (and the shared experts) as one batch per projection: two parallel
  // regions instead of three per expert (decode: 6 routed + shared = 21 small GEMVs).
  LinearBatch& batch = ws.linears();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t begin = offsets[e], n = offsets[e + 1] - begin;
    if (n == 0) continue;
    const DenseMlp& ex = experts_[static_cast<size_t>(e)];
    batch.Add(rows_in + begin * H, n, H, ex.gate(), gate_buf + begin * I);
    batch.Add(rows_in + begin * H, n, H, ex.up(), up_buf + begin * I);
  }
  if (has_shared_) {
    batch.Add(xn, T, H, shared_.gate(), shared_gate);
    batch.Add(xn, T, H, shared_.up(), shared_up);
  }
  batch.Run(pool);
  kernels::SwiGlu(pool, gate_buf, up_buf, R * I + T * S);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t begin = offsets[e], n = offsets[e + 1] - begin;
    if (n == 0) continue;
    batch.Add(gate_buf + begin * I, n, I, experts_[static_cast<size_t>(e)].down(), rows_out + begin * H);
  }
  if (has_shared_) batch.Add(shared_gate, T, S, shared_.down(), shared_out);
  batch.Run(pool);

  // out[t] = Σ_j w[t, j] · expert_j(x[t]) in fp32, in pick order (as the official moe_infer sums),
  // then + shared_experts(x[t]).
  pool.ParallelFor(T, 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out + t * H;
      std::fill_n(o, H, 0.0f);
      for (int64_t j = 0; j < k; ++j) {
        const float w = weights[t * k + j];
        const float* y = rows_out + static_cast<int64_t>(slot_of[t * k + j]) * H;
        for (int64_t c = 0; c < H; ++c) o[c] += w * y[c];
      }
      if (has_shared_) {
        const float* sh = shared_out + t * H;
        for (int64_t c = 0; c < H; ++c) o[c] += sh[c];
      }
    }
  });
}

}  // namespace dsvl
