// DeepSeekMoE routing (official MoEGate, inference path): router logits -> scores (softmax or
// sigmoid, fp32) -> top-k experts per token (greedy, group_limited_greedy or noaux_tc) -> weights.
#pragma once

#include <cstdint>
#include <vector>

#include "llm/llm_config.h"

namespace dsvl {

class MoeRouter {
 public:
  // correction_bias: e_score_correction_bias [n_routed_experts] (noaux_tc only; empty otherwise),
  // already in the precision the official run uses (bf16-rounded for a bf16 checkpoint).
  MoeRouter(const MoeConfig& config, std::vector<float> correction_bias);

  int64_t top_k() const { return config_.experts_per_token; }
  // logits [T, E] (row-major, f32) -> experts [T, top_k] and weights [T, top_k]. The order of the k
  // picks within a row is by descending selection score (the official topk is unsorted; the MoE
  // output is a sum, so order does not matter). Not reentrant (uses member scratch).
  void Route(const float* logits, int64_t T, int32_t* experts, float* weights) const;

 private:
  MoeConfig config_;
  std::vector<float> bias_;
  // Per-token scratch, sized once.
  mutable std::vector<float> scores_, choice_, group_scores_;
  mutable std::vector<int32_t> order_, group_order_;
};

}  // namespace dsvl
