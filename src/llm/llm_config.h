// Language-model description, filled from config.json (model/model_config.cpp applies the official
// code's defaults for absent keys). Llama (DeepSeek-VL) and DeepseekV2 (DeepSeek-VL2) are the same
// decoder with different attention and MLP choices, so one struct describes both.
#pragma once

#include <cstdint>
#include <string>

namespace dsvl {

enum class AttentionKind { kMha, kMla };  // kMha = Llama attention (q/k/v/o_proj, rotate-half RoPE)
enum class MoeTopkMethod { kGreedy, kGroupLimitedGreedy, kNoauxTc };
enum class MoeScoring { kSoftmax, kSigmoid };

struct MlaConfig {
  int64_t q_lora_rank = 0;  // 0: q_proj directly; else q_a_proj -> q_a_layernorm -> q_b_proj
  int64_t kv_lora_rank = 512;
  int64_t qk_nope_head_dim = 128;
  int64_t qk_rope_head_dim = 64;
  int64_t v_head_dim = 128;
};

struct MoeConfig {
  int64_t n_routed_experts = 0;  // 0: dense model (no MoE layers)
  int64_t n_shared_experts = 0;
  int64_t experts_per_token = 0;
  int64_t moe_intermediate_size = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  MoeTopkMethod topk_method = MoeTopkMethod::kGreedy;
  MoeScoring scoring = MoeScoring::kSoftmax;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  bool norm_topk_prob = false;
  float routed_scaling_factor = 1.0f;
  // Training only (the official MoEGate's auxiliary balance loss in train() mode; inference ignores
  // them): aux_loss_alpha 0 turns it off. seq_aux picks the per-sequence form; for one sequence per
  // forward both forms give the same value.
  float aux_loss_alpha = 0.001f;
  bool seq_aux = true;

  bool IsMoeLayer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
};

struct LlmConfig {
  std::string prefix;  // tensor name prefix: "language_model." (VL1) or "language." (VL2)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // dense SwiGLU width
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // MHA head dim (hidden / heads)
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  int64_t max_position_embeddings = 4096;
  AttentionKind attention = AttentionKind::kMha;
  MlaConfig mla;
  MoeConfig moe;
  int64_t bos_id = -1;
  int64_t eos_id = -1;

  // Values cached per token per layer: MHA 2*kv_heads*head_dim; MLA kv_lora_rank + qk_rope_head_dim.
  int64_t KvValuesPerToken() const {
    return attention == AttentionKind::kMla ? mla.kv_lora_rank + mla.qk_rope_head_dim
                                            : 2 * num_kv_heads * head_dim;
  }
};

}  // namespace dsvl
