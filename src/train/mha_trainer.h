// Training forward and backward of Llama-style multi-head attention (one layer, one sequence): the
// attention of DeepSeek-VL's decoder and of DeepseekV2 layers with use_mla=false (e.g. VL2-Tiny):
//   q, k, v = q_proj(x), k_proj(x), v_proj(x)     (grouped: num_kv_heads ≤ num_heads)
//   out = o_proj(softmax(rope(q) rope(k)ᵀ / sqrt(head_dim), causal) v)
// with rotate-half RoPE over the whole head. Attention keeps only its log-sum-exp rows; the backward
// recomputes the probabilities.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "llm/llm_config.h"
#include "train/grad_ops.h"
#include "train/param_set.h"

namespace dsvl {

class WeightStore;

namespace train {

class MhaTrainer {
 public:
  // prefix: "<model prefix>model.layers.N.self_attn.". config.num_kv_heads and head_dim must be set.
  MhaTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params, const std::string& prefix);
  MhaTrainer(const MhaTrainer&) = delete;
  MhaTrainer& operator=(const MhaTrainer&) = delete;

  // out[T, hidden] from xn[T, hidden]; cos/sin [T, head_dim/2] are the RoPE tables of positions
  // 0..T-1. xn, cos and sin are kept by pointer until Backward.
  void Forward(ThreadPool& pool, const float* xn, int64_t T, const float* cos, const float* sin, float* out);
  // Accumulates the weights' gradients and dxn[T, hidden] (+=) from dout[T, hidden].
  void Backward(ThreadPool& pool, const float* dout, float* dxn);

 private:
  int64_t hidden_, heads_, kv_heads_, head_dim_;
  WeightRef wq_, wk_, wv_, wo_;

  const float* xn_ = nullptr;
  const float* cos_ = nullptr;
  const float* sin_ = nullptr;
  AttentionShape shape_{};
  std::vector<float> q_, k_, v_, attn_, lse_;  // roped q/k, v, attention output, log-sum-exp
};

}  // namespace train
}  // namespace dsvl
