// Training forward and backward of DeepseekV2 multi-head latent attention (one layer, one sequence),
// in the official eager code's *unabsorbed* form (inference runs the absorbed one, same function):
//   q = q_proj(x)  or  q_b_proj(rmsnorm(q_a_proj(x)))               [T, heads, nope + rope]
//   [ckv | k_pe] = kv_a_proj_with_mqa(x);  [k_nope | v] = kv_b_proj(rmsnorm(ckv))  per head
//   K_h = [k_nope_h | rope(k_pe)] (k_pe shared by all heads),  Q_h = [q_nope_h | rope(q_pe_h)]
//   out = o_proj(softmax(Q Kᵀ · (nope + rope)^-0.5, causal) V)
// RoPE rotates interleaved pairs (2i, 2i+1): the official de-interleave + rotate_half up to one
// permutation of the rope dims that q and k share, which leaves every score and gradient unchanged.
// The latent norms use eps 1e-6 (DeepseekV2RMSNorm's default, not config.rms_norm_eps).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "llm/llm_config.h"
#include "train/param_set.h"

namespace dsvl {

class WeightStore;

namespace train {

class MlaTrainer {
 public:
  // prefix: "<model prefix>model.layers.N.self_attn.".
  MlaTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params, const std::string& prefix);
  MlaTrainer(const MlaTrainer&) = delete;
  MlaTrainer& operator=(const MlaTrainer&) = delete;

  // out[T, hidden] from xn[T, hidden] (kept by pointer until Backward); cos/sin [T, rope/2] are the
  // RoPE tables of positions 0..T-1 for qk_rope_head_dim.
  void Forward(ThreadPool& pool, const float* xn, int64_t T, const float* cos, const float* sin, float* out);
  // Accumulates the weights' gradients and dxn[T, hidden] from dout[T, hidden].
  void Backward(ThreadPool& pool, const float* dout, float* dxn);

 private:
  int64_t hidden_, heads_, q_lora_, kv_lora_, nope_, rope_, v_dim_;
  int64_t qd_, D_;  // query/key head width nope + rope; attention width max(qd, v) (zero padded)
  float scale_;
  WeightRef q_proj_, q_a_proj_, q_a_norm_, q_b_proj_, kv_a_proj_, kv_a_norm_, kv_b_proj_, o_proj_;

  const float* xn_ = nullptr;
  int64_t T_ = 0;
  std::vector<float> cos_, sin_, neg_sin_;
  std::vector<float> qa_, qan_, rstd_q_;   // q-LoRA path
  std::vector<float> kva_, ckv_, ckvn_, rstd_kv_, kv_;
  std::vector<float> Q_, K_, V_, A_, lse_, attn_v_;
};

}  // namespace train
}  // namespace dsvl
