// Training forward and backward of the DeepseekV2 decoder (DeepSeek-VL2's language model) over one
// sequence: attention is Llama-style MHA (q/k/v/o_proj, rotate-half RoPE: use_mla=false, e.g.
// vl2_tiny) or MLA (MlaTrainer); the first first_k_dense_replace layers have a dense SwiGLU, the
// others DeepSeekMoE (MoeTrainer, the official train() path with its auxiliary balance loss). Same
// contract as LlamaTrainer: the forward keeps each layer's activations, the backward accumulates into
// the trainable weights' gradients and returns the gradient of the input embeddings.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "llm/llm_config.h"
#include "train/llama_trainer.h"
#include "train/mla_trainer.h"
#include "train/moe_trainer.h"
#include "train/param_set.h"

namespace dsvl {

class WeightStore;

namespace train {

class DeepseekV2Trainer {
 public:
  // The MoE auxiliary loss uses config.moe.aux_loss_alpha (DeepseekV2Config default 0.001; set 0 for
  // none, as the fixtures' *_noaux runs). Add all trainable parameters to `params` before constructing.
  DeepseekV2Trainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params);

  int64_t hidden() const { return config_.hidden_size; }
  void Embed(const int64_t* ids, int64_t T, float* out) const;

  // As LlamaTrainer::Run: returns the summed cross-entropy of `targets` over embeds[T, hidden]; with
  // `backward` accumulates the gradient of loss_scale · (that sum) + (this forward's auxiliary losses,
  // weight 1 as the official AddAuxiliaryLoss) into the weights and writes d_embeds[T, hidden].
  double Run(ThreadPool& pool, const float* embeds, const int64_t* ids, int64_t T, const Targets& targets,
             bool backward, float loss_scale, float* d_embeds);
  // Σ over MoE layers of the last Run's auxiliary losses (not part of Run's return value).
  double last_aux_loss() const { return last_aux_; }
  // The last Run's expert choice of every MoE layer, concatenated (tests).
  std::vector<int32_t> routing() const;

 private:
  struct Layer {
    WeightRef input_norm, post_norm;
    WeightRef wq, wk, wv, wo;               // MHA
    std::unique_ptr<MlaTrainer> mla;        // MLA
    WeightRef w_gate, w_up, w_down;         // dense MLP
    std::unique_ptr<MoeTrainer> moe;        // MoE
  };
  struct Saved {
    std::vector<float> x, n1, rstd1, q, k, v, attn, lse, x_mid, n2, rstd2, g, u, s;
  };

  LlmConfig config_;
  WeightRef embed_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  std::vector<Saved> saved_;
  double last_aux_ = 0.0;
};

}  // namespace train
}  // namespace dsvl
