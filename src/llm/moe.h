// DeepSeekMoE feed-forward: routed experts (each a SwiGLU of moe_intermediate_size) weighted by the
// router, plus the shared experts run on every token. Each expert runs only on the rows routed to
// it: rows are grouped by expert and each expert does one Linear per projection over its group
// (decode: k GEMVs per projection), never a dense pass over all experts. All experts' gate/up
// projections, and then all down projections, go to the pool as one LinearBatch each. With several
// sequences stacked, an expert's rows are split per sequence (each part one call, as when that
// sequence runs alone), and its weights are still streamed once for all of them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "llm/blocks.h"
#include "llm/dense_mlp.h"
#include "llm/llm_config.h"
#include "llm/moe_gate.h"

namespace dsvl {

class WeightStore;

class MoeBlock final : public FeedForwardBlock {
 public:
  // prefix: "<model prefix>model.layers.N.mlp.". round_bias_to_bf16: the checkpoint computes in
  // bf16, where the official model holds e_score_correction_bias as a bf16 parameter.
  MoeBlock(const LlmConfig& config, const WeightStore& weights, const std::string& prefix, bool round_bias_to_bf16);

  void ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs, float* out,
                    Workspace& ws) const override;

 private:
  int64_t hidden_, n_experts_, top_k_, moe_inter_;
  TensorView gate_weight_;  // [E, hidden]
  std::unique_ptr<MoeRouter> router_;
  std::vector<DenseMlp> experts_;
  bool has_shared_ = false;
  DenseMlp shared_;
};

}  // namespace dsvl
