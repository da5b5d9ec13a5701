// Training forward and backward of one DeepSeekMoE feed-forward layer (the official DeepseekV2MoE in
// train() mode): router logits -> scores -> top-k choice (MoeRouter, as inference) -> weights; each
// routed expert (SwiGLU) runs on its rows only, out[t] = Σ_j w[t,j] · expert_j(x[t]) + shared(x[t]).
// The backward goes through the chosen experts and through the routing weights into the scores,
// router logits, gate weight and input; the choice itself is piecewise constant and gets no gradient
// (as torch.topk's indices). An expert that receives no token gets an all-zero gradient.
//
// Auxiliary balance loss (official MoEGate, train() and aux_loss_alpha > 0; seq_aux, one sequence):
//   aux = alpha · Σ_e ce_e · mean_t score[t, e],   ce_e = count_e / (T·K/E)
// with count_e the (token, pick) pairs routed to e. The official AddAuxiliaryLoss injects d aux with
// weight 1 into every forward's backward, independent of the CE's scaling; Backward does the same.
// (For one sequence seq_aux=False gives the same value: ce·E/(T·K) is then the same count ratio.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "llm/llm_config.h"
#include "llm/moe_gate.h"
#include "train/param_set.h"
#include "train/swiglu_mlp.h"

namespace dsvl {

class WeightStore;

namespace train {

class MoeTrainer {
 public:
  // prefix: "<model prefix>model.layers.N.mlp.". config.moe.aux_loss_alpha 0 turns the auxiliary
  // loss off.
  MoeTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params, const std::string& prefix);
  MoeTrainer(const MoeTrainer&) = delete;
  MoeTrainer& operator=(const MoeTrainer&) = delete;

  // out[T, hidden] = moe(xn[T, hidden]); keeps what Backward needs (xn must stay alive until then).
  // Returns the auxiliary loss of this forward (0 when alpha is 0).
  double Forward(ThreadPool& pool, const float* xn, int64_t T, float* out);
  // Given dout[T, hidden] (gradient of the CE part): accumulates the weights' gradients, adds the
  // auxiliary loss's gradient with weight 1, and accumulates dxn[T, hidden].
  void Backward(ThreadPool& pool, const float* dout, float* dxn);

  // The last forward's choice, [T, top_k] expert ids (for tests: a changed choice is a different
  // piece of the piecewise-smooth function).
  const std::vector<int32_t>& routing() const { return experts_; }

 private:
  int64_t H_, E_, K_, I_, S_;
  MoeConfig moe_;
  float aux_alpha_;
  WeightRef gate_weight_;
  MoeRouter router_;
  std::vector<SwiGluMlp> experts_w_;  // each runs on its own rows (see offsets_)
  bool has_shared_;
  SwiGluMlp shared_;

  // Saved forward state.
  const float* xn_ = nullptr;
  int64_t T_ = 0;
  std::vector<float> scores_;        // [T, E] router scores
  std::vector<int32_t> experts_;     // [T, K]
  std::vector<float> weights_;       // [T, K]
  std::vector<int32_t> offsets_;     // [E + 1]: expert e's rows are [offsets[e], offsets[e+1])
  std::vector<int32_t> slot_of_;     // pick (t, j) -> its row
  std::vector<int32_t> token_of_;    // row -> token
  std::vector<float> rows_in_, y_;   // per row: input [H] and the expert's output [H]
  std::vector<float> shared_out_;    // [T, H]
  std::vector<double> count_;        // [E] picks per expert (aux)
};

}  // namespace train
}  // namespace dsvl
