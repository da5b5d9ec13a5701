// Training forward and backward of the Llama decoder (DeepSeek-VL's language model, AttentionKind::kMha
// with dense SwiGLU layers) over one sequence: the forward keeps each layer's activations (attention
// keeps only its log-sum-exp rows; the backward recomputes the probabilities), the backward walks the
// layers in reverse, accumulating into the trainable weights' gradients and returning the gradient of
// the input embeddings, which is what an adaptor or vision tower upstream trains from.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "llm/llm_config.h"
#include "train/lm_head_loss.h"
#include "train/param_set.h"

namespace dsvl {

class WeightStore;

namespace train {

class LlamaTrainer {
 public:
  // Reads every weight through `params` (trainable ones) or the checkpoint (frozen ones): add all
  // trainable parameters to `params` before constructing.
  LlamaTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params);

  int64_t hidden() const { return config_.hidden_size; }
  // Rows of the token embedding table for ids[T].
  void Embed(const int64_t* ids, int64_t T, float* out) const;

  // Forward over embeds[T, hidden] and the summed cross-entropy of `targets`. With `backward`, the
  // gradient of loss_scale · (that sum) is accumulated into the trainable weights and written to
  // d_embeds[T, hidden] (when not null); rows whose ids[t] >= 0 came from the embedding table and also
  // add their gradient to its row ids[t] (ids may be null: no table rows).
  double Run(ThreadPool& pool, const float* embeds, const int64_t* ids, int64_t T,
             const Targets& targets, bool backward, float loss_scale, float* d_embeds);

 private:
  struct Layer {
    WeightRef input_norm, post_norm, wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  // Activations of one layer, kept from the forward for the backward.
  struct Saved {
    std::vector<float> x, n1, rstd1, q, k, v, attn, lse, x_mid, n2, rstd2, g, u, s;
  };

  LlmConfig config_;
  WeightRef embed_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  std::vector<Saved> saved_;
};

}  // namespace train
}  // namespace dsvl
