// DeepseekV2 multi-head latent attention (VL2-small and VL2), in the official eager code's
// *absorbed* form: the cache holds only the normed latent ckv [kv_lora_rank] and the roped shared
// k_pe [qk_rope_head_dim] per token, and kv_b_proj is folded into the query and the output:
//   q̃_h = q_nope_h · W_k,h        (W_k,h = kv_b_proj rows of head h's K part, [nope, kv_lora])
//   s_h = (q̃_h · ckvᵀ + q_pe_h · k_peᵀ) · (nope + rope)^-0.5,   P = softmax(causal(s_h))
//   o_h = (P · ckv) · W_v,hᵀ       (W_v,h = head h's V rows, [v_head, kv_lora])
// which is one attention call with Dk = kv_lora + rope over the cache rows [ckv | k_pe], a single
// shared kv head, and V = the ckv columns of the same rows.
#pragma once

#include <string>

#include "core/tensor.h"
#include "llm/blocks.h"
#include "llm/llm_config.h"

namespace dsvl {

class WeightStore;

class MlaAttention final : public AttentionBlock {
 public:
  // prefix: "<model prefix>model.layers.N.self_attn.".
  MlaAttention(const LlmConfig& config, const WeightStore& weights, const std::string& prefix);

  static int64_t CacheWidth(const LlmConfig& c) { return c.mla.kv_lora_rank + c.mla.qk_rope_head_dim; }
  void ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs,
                    std::span<const SeqCache> caches, const RopeRows& rope, float* out,
                    Workspace& ws) const override;

 private:
  int64_t hidden_, heads_, q_lora_, kv_lora_, nope_, rope_, v_dim_;
  float softmax_scale_;
  TensorView q_proj_, q_a_proj_, q_a_norm_, q_b_proj_;  // q_proj, or the q_lora trio
  TensorView kv_a_ckv_, kv_a_kpe_;  // row blocks of kv_a_proj_with_mqa: [kv_lora, H], [rope, H]
  TensorView kv_a_norm_;
  TensorView kv_b_;  // [heads * (nope + v), kv_lora]
  // A block-quantised kv_b_proj widened to f32 once (the quantisation policy keeps kv_b_proj in its
  // float dtype; this serves checkpoints quantised by other means): kv_b_ then views it, because the
  // K half is re-laid out element by element below.
  Tensor kv_b_f32_;
  // W_k,h transposed to [heads, kv_lora, nope] in the checkpoint's own dtype (an exact copy of
  // half of kv_b_proj), so q̃ is a plain Linear: the kernels contract over a weight's last dim.
  Tensor k_absorb_t_;
  TensorView o_proj_;
};

}  // namespace dsvl
