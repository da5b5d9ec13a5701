// Llama attention (DeepSeek-VL's LLM and VL2-tiny's "mha_eager"): q/k/v/o projections without bias,
// rotate-half RoPE over the whole head, softmax(q kᵀ / sqrt(head_dim)) with a causal mask.
// Cache row per token: roped K of every kv head, then V ([2, kv_heads, head_dim]).
#pragma once

#include <string>

#include "core/tensor.h"
#include "llm/blocks.h"
#include "llm/llm_config.h"

namespace dsvl {

class WeightStore;

class MhaAttention final : public AttentionBlock {
 public:
  // prefix: "<model prefix>model.layers.N.self_attn.".
  MhaAttention(const LlmConfig& config, const WeightStore& weights, const std::string& prefix);

  static int64_t CacheWidth(const LlmConfig& c) { return 2 * c.num_kv_heads * c.head_dim; }
  void ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs,
                    std::span<const SeqCache> caches, const RopeRows& rope, float* out,
                    Workspace& ws) const override;

 private:
  int64_t hidden_, heads_, kv_heads_, head_dim_;
  TensorView q_, k_, v_, o_;
};

}  // namespace dsvl
