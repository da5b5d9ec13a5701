// Training forward and backward of the language model over one sequence, for both families:
// DeepSeek-VL's Llama decoder and DeepSeek-VL2's DeepseekV2 decoder. Each layer is
//   x_mid = x + attention(rmsnorm(x));   h = x_mid + ffn(rmsnorm(x_mid))
// with attention Llama-style MHA (MhaTrainer: Llama, and DeepseekV2 with use_mla=false such as
// VL2-Tiny) or MLA (MlaTrainer), and ffn a dense SwiGLU (SwiGluMlp: Llama, and DeepseekV2's first
// first_k_dense_replace layers) or DeepSeekMoE (MoeTrainer, the official train() path with its
// auxiliary balance loss). The forward keeps each layer's activations; the backward walks the layers
// in reverse, accumulates into the trainable weights' gradients and returns the gradient of the input
// embeddings, which is what an adaptor or vision tower upstream trains from.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "llm/llm_config.h"
#include "train/lm_head_loss.h"
#include "train/mha_trainer.h"
#include "train/mla_trainer.h"
#include "train/moe_trainer.h"
#include "train/param_set.h"
#include "train/swiglu_mlp.h"

namespace dsvl {

class WeightStore;

namespace train {

class DecoderTrainer {
 public:
  // Reads every weight through `params` (trainable ones) or the checkpoint (frozen ones): add all
  // trainable parameters to `params` before constructing. MoE layers' auxiliary loss uses
  // config.moe.aux_loss_alpha (DeepseekV2Config default 0.001; 0 for none, as the fixtures' *_noaux
  // runs).
  DecoderTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params);

  int64_t hidden() const { return config_.hidden_size; }
  // Rows of the token embedding table for ids[T].
  void Embed(const int64_t* ids, int64_t T, float* out) const;

  // Forward over embeds[T, hidden]; returns the summed cross-entropy of `targets`. With `backward`,
  // the gradient of loss_scale · (that sum) + (this forward's auxiliary losses, weight 1 as the
  // official AddAuxiliaryLoss) is accumulated into the trainable weights and written to
  // d_embeds[T, hidden] (when not null); rows whose ids[t] >= 0 came from the embedding table and also
  // add their gradient to its row ids[t] (ids may be null: no table rows).
  double Run(ThreadPool& pool, const float* embeds, const int64_t* ids, int64_t T, const Targets& targets,
             bool backward, float loss_scale, float* d_embeds);
  // Σ over MoE layers of the last Run's auxiliary losses (not part of Run's return value).
  double last_aux_loss() const { return last_aux_; }
  // The last Run's expert choice of every MoE layer, concatenated (tests).
  std::vector<int32_t> routing() const;

 private:
  struct Layer {
    WeightRef input_norm, post_norm;
    std::unique_ptr<MhaTrainer> mha;  // one of mha / mla
    std::unique_ptr<MlaTrainer> mla;
    std::unique_ptr<SwiGluMlp> mlp;   // one of mlp / moe
    std::unique_ptr<MoeTrainer> moe;
  };
  // Activations of one layer kept for the backward (the blocks keep their own).
  struct Saved {
    std::vector<float> x, n1, rstd1, x_mid, n2, rstd2;
  };

  LlmConfig config_;
  WeightRef embed_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  std::vector<Saved> saved_;
  double last_aux_ = 0.0;
};

}  // namespace train
}  // namespace dsvl
