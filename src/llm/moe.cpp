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

void MoeBlock::ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs, float* out,
                            Workspace& ws) const {
  const int64_t T = TotalRows(seqs);
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
  int32_t* token_of = ws.I32(4, R);  // row of rows_in / rows_out -> its token

  // Router in fp32 (the official gate computes h.float() @ W.float()ᵀ).
  LinearBatch& batch = ws.linears();
  batch.AddRows(xn, seqs, H, gate_weight_, logits);
  batch.Run(pool);
  router_->Route(logits, T, experts, weights);

  // Counting sort of the picks by expert.
  std::fill_n(offsets, E + 1, 0);
  for (int64_t r = 0; r < R; ++r) ++offsets[experts[r] + 1];
  for (int64_t e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
  std::copy_n(offsets, E, fill);
  for (int64_t r = 0; r < R; ++r) {
    const int32_t row = fill[experts[r]]++;
    slot_of[r] = row;
    token_of[row] = static_cast<int32_t>(r / k);
    std::memcpy(rows_in + row * H, xn + (r / k) * H, static_cast<size_t>(H) * sizeof(float));
  }

  // Expert e's rows are ordered by token, so each sequence's share of them is one run: `parts`
  // becomes the list of (row begin, count) runs, expert by expert, a run never crossing sequences.
  // Sequence boundaries come from the stack layout (seqs are back to back, in order).
  RowRange* parts = ws.Ranges(0, R);
  int32_t* part_offsets = ws.I32(5, E + 1);  // expert e's runs: parts[part_offsets[e], part_offsets[e+1])
  int64_t n_parts = 0;
  for (int64_t e = 0; e < E; ++e) {
    part_offsets[e] = static_cast<int32_t>(n_parts);
    size_t s_idx = 0;
    for (int64_t row = offsets[e]; row < offsets[e + 1];) {
      const int64_t t = token_of[row];
      while (seqs[s_idx].begin + seqs[s_idx].count <= t) ++s_idx;
      const int64_t seq_end = seqs[s_idx].begin + seqs[s_idx].count;
      int64_t end = row + 1;
      while (end < offsets[e + 1] && token_of[end] < seq_end) ++end;
      parts[n_parts++] = RowRange{row, end - row};
      row = end;
    }
  }
  part_offsets[E] = static_cast<int32_t>(n_parts);

  // Every active expert (and the shared experts) as one batch per projection: two parallel
  // regions instead of three per expert (decode: 6 routed + shared = 21 small GEMVs).
  auto expert_parts = [&](int64_t e) {
    return std::span<const RowRange>(parts + part_offsets[e], static_cast<size_t>(part_offsets[e + 1] - part_offsets[e]));
  };
  for (int64_t e = 0; e < E; ++e) {
    if (part_offsets[e] == part_offsets[e + 1]) continue;
    const DenseMlp& ex = experts_[static_cast<size_t>(e)];
    batch.AddRows(rows_in, expert_parts(e), H, ex.gate(), gate_buf);
    batch.AddRows(rows_in, expert_parts(e), H, ex.up(), up_buf);
  }
  if (has_shared_) {
    batch.AddRows(xn, seqs, H, shared_.gate(), shared_gate);
    batch.AddRows(xn, seqs, H, shared_.up(), shared_up);
  }
  batch.Run(pool);
  kernels::SwiGlu(pool, gate_buf, up_buf, R * I + T * S);
  for (int64_t e = 0; e < E; ++e) {
    if (part_offsets[e] == part_offsets[e + 1]) continue;
    batch.AddRows(gate_buf, expert_parts(e), I, experts_[static_cast<size_t>(e)].down(), rows_out);
  }
  if (has_shared_) batch.AddRows(shared_gate, seqs, S, shared_.down(), shared_out);
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
