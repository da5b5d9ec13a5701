#include "train/moe_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "train/grad_ops.h"

namespace dsvl::train {
namespace {

std::vector<float> CorrectionBias(const MoeConfig& moe, const WeightStore& weights, const std::string& prefix) {
  if (moe.topk_method != MoeTopkMethod::kNoauxTc) return {};
  const TensorView& b = weights.Get(prefix + "gate.e_score_correction_bias", Shape{moe.n_routed_experts});
  std::vector<float> v(static_cast<size_t>(moe.n_routed_experts));
  kernels::ToF32(b, 0, moe.n_routed_experts, v.data());
  return v;
}

}  // namespace

MoeTrainer::MoeTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params,
                       const std::string& prefix)
    : H_(config.hidden_size),
      E_(config.moe.n_routed_experts),
      K_(config.moe.experts_per_token),
      I_(config.moe.moe_intermediate_size),
      S_(config.moe.moe_intermediate_size * config.moe.n_shared_experts),
      moe_(config.moe),
      aux_alpha_(config.moe.aux_loss_alpha),
      router_(config.moe, CorrectionBias(config.moe, weights, prefix)),
      has_shared_(config.moe.n_shared_experts > 0) {
  gate_weight_ = WeightRef(params, weights, prefix + "gate.weight", Shape{E_, H_});
  experts_w_.reserve(static_cast<size_t>(E_));
  for (int64_t e = 0; e < E_; ++e)
    experts_w_.emplace_back(weights, params, prefix + "experts." + std::to_string(e) + ".", H_, I_);
  if (has_shared_) shared_ = SwiGluMlp(weights, params, prefix + "shared_experts.", H_, S_);
}

double MoeTrainer::Forward(ThreadPool& pool, const float* xn, int64_t T, float* out) {
  const int64_t R = T * K_;
  xn_ = xn;
  T_ = T;
  // Router in fp32: scores from the logits as inference computes them; the choice and the weights
  // from MoeRouter (the weights are recomputed from the scores in the backward).
  scores_.assign(static_cast<size_t>(T * E_), 0.0f);
  LinearForward(pool, xn, T, H_, gate_weight_.view(), E_, nullptr, scores_.data());
  std::vector<float> logits = scores_;
  for (int64_t t = 0; t < T; ++t) {
    float* s = scores_.data() + t * E_;
    if (moe_.scoring == MoeScoring::kSoftmax)
      kernels::SoftmaxRow(s, E_);
    else
      for (int64_t e = 0; e < E_; ++e) s[e] = 1.0f / (1.0f + std::exp(-s[e]));
  }
  experts_.assign(static_cast<size_t>(R), 0);
  weights_.assign(static_cast<size_t>(R), 0.0f);
  router_.Route(logits.data(), T, experts_.data(), weights_.data());

  // Counting sort of the picks by expert; within an expert, rows in token order.
  offsets_.assign(static_cast<size_t>(E_ + 1), 0);
  for (int64_t r = 0; r < R; ++r) ++offsets_[static_cast<size_t>(experts_[static_cast<size_t>(r)] + 1)];
  for (int64_t e = 0; e < E_; ++e) offsets_[static_cast<size_t>(e + 1)] += offsets_[static_cast<size_t>(e)];
  std::vector<int32_t> fill(offsets_.begin(), offsets_.end() - 1);
  slot_of_.assign(static_cast<size_t>(R), 0);
  token_of_.assign(static_cast<size_t>(R), 0);
  rows_in_.resize(static_cast<size_t>(R * H_));
  for (int64_t r = 0; r < R; ++r) {
    const int32_t row = fill[static_cast<size_t>(experts_[static_cast<size_t>(r)])]++;
    slot_of_[static_cast<size_t>(r)] = row;
    token_of_[static_cast<size_t>(row)] = static_cast<int32_t>(r / K_);
    std::memcpy(rows_in_.data() + row * H_, xn + (r / K_) * H_, static_cast<size_t>(H_) * sizeof(float));
  }

  y_.assign(static_cast<size_t>(R * H_), 0.0f);
  for (int64_t e = 0; e < E_; ++e) {
    const int64_t r0 = offsets_[static_cast<size_t>(e)], n = offsets_[static_cast<size_t>(e + 1)] - r0;
    if (n > 0) experts_w_[static_cast<size_t>(e)].Forward(pool, rows_in_.data() + r0 * H_, n, y_.data() + r0 * H_);
  }
  // out[t] = Σ_j w[t,j] · y[slot(t,j)] (pick order, as the official weighted sum), then + shared.
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * H_;
    std::fill_n(o, H_, 0.0f);
    for (int64_t j = 0; j < K_; ++j) {
      const float w = weights_[static_cast<size_t>(t * K_ + j)];
      const float* y = y_.data() + static_cast<int64_t>(slot_of_[static_cast<size_t>(t * K_ + j)]) * H_;
      for (int64_t c = 0; c < H_; ++c) o[c] += w * y[c];
    }
  }
  if (has_shared_) {
    shared_out_.resize(static_cast<size_t>(T * H_));
    shared_.Forward(pool, xn, T, shared_out_.data());
    for (int64_t i = 0; i < T * H_; ++i) out[i] += shared_out_[static_cast<size_t>(i)];
  }

  // Auxiliary loss: alpha · Σ_e (count_e / (T·K/E)) · mean_t score[t, e].
  count_.assign(static_cast<size_t>(E_), 0.0);
  for (int32_t e : experts_) count_[static_cast<size_t>(e)] += 1.0;
  if (aux_alpha_ <= 0.0f || T == 0) return 0.0;
  double aux = 0.0;
  for (int64_t e = 0; e < E_; ++e) {
    double mean = 0.0;
    for (int64_t t = 0; t < T; ++t) mean += scores_[static_cast<size_t>(t * E_ + e)];
    mean /= static_cast<double>(T);
    aux += count_[static_cast<size_t>(e)] / (static_cast<double>(T * K_) / static_cast<double>(E_)) * mean;
  }
  return aux * aux_alpha_;
}

void MoeTrainer::Backward(ThreadPool& pool, const float* dout, float* dxn) {
  if (!xn_) Throw(ErrorCode::kInvalidArgument, "training MoE: Backward without a Forward");
  const int64_t T = T_, R = T * K_;
  const float* xn = xn_;
  // Shared experts: a plain SwiGLU over every token.
  if (has_shared_) shared_.Backward(pool, dout, dxn);
  // Routed part: dw[t,j] = dout[t] · y[slot], dy[slot] = w[t,j] · dout[t].
  std::vector<float> dw(static_cast<size_t>(R)), dy(static_cast<size_t>(R * H_));
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = r / K_, row = slot_of_[static_cast<size_t>(r)];
    const float* d = dout + t * H_;
    const float* y = y_.data() + row * H_;
    const float w = weights_[static_cast<size_t>(r)];
    float acc = 0.0f;
    for (int64_t c = 0; c < H_; ++c) {
      acc += d[c] * y[c];
      dy[static_cast<size_t>(row * H_ + c)] = w * d[c];
    }
    dw[static_cast<size_t>(r)] = acc;
  }
  std::vector<float> drows(static_cast<size_t>(R * H_), 0.0f);
  for (int64_t e = 0; e < E_; ++e) {
    const int64_t r0 = offsets_[static_cast<size_t>(e)], n = offsets_[static_cast<size_t>(e + 1)] - r0;
    // An expert with no token keeps its gradients as they are (zero from this forward).
    if (n > 0) experts_w_[static_cast<size_t>(e)].Backward(pool, dy.data() + r0 * H_, drows.data() + r0 * H_);
  }
  for (int64_t row = 0; row < R; ++row) {
    float* d = dxn + static_cast<int64_t>(token_of_[static_cast<size_t>(row)]) * H_;
    const float* src = drows.data() + row * H_;
    for (int64_t c = 0; c < H_; ++c) d[c] += src[c];
  }

  // Weights -> scores. w_j = rsf · s_j, or with norm_topk_prob w_j = rsf · s_j / (Σ_sel s + 1e-20).
  std::vector<float> dscores(static_cast<size_t>(T * E_), 0.0f);
  const float rsf = moe_.routed_scaling_factor;
  for (int64_t t = 0; t < T; ++t) {
    const int32_t* idx = experts_.data() + t * K_;
    const float* dwt = dw.data() + t * K_;
    float* dst = dscores.data() + t * E_;
    const float* sc = scores_.data() + t * E_;
    if (K_ > 1 && moe_.norm_topk_prob) {
      float sum = 0.0f, dot = 0.0f;
      for (int64_t j = 0; j < K_; ++j) sum += sc[idx[j]];
      const float denom = sum + 1e-20f;
      for (int64_t j = 0; j < K_; ++j) dot += dwt[j] * sc[idx[j]];
      for (int64_t j = 0; j < K_; ++j) dst[idx[j]] += rsf * (dwt[j] / denom - dot / (denom * denom));
    } else {
      for (int64_t j = 0; j < K_; ++j) dst[idx[j]] += rsf * dwt[j];
    }
  }
  // Auxiliary loss, weight 1: d aux / d score[t, e] = alpha · ce_e / T.
  if (aux_alpha_ > 0.0f && T > 0)
    for (int64_t e = 0; e < E_; ++e) {
      const float g = static_cast<float>(aux_alpha_ * count_[static_cast<size_t>(e)] /
                                         (static_cast<double>(T * K_) / static_cast<double>(E_)) / static_cast<double>(T));
      for (int64_t t = 0; t < T; ++t) dscores[static_cast<size_t>(t * E_ + e)] += g;
    }
  // Scores -> logits: softmax dl = s ⊙ (ds - Σ s·ds); sigmoid dl = s (1 - s) ds.
  for (int64_t t = 0; t < T; ++t) {
    float* d = dscores.data() + t * E_;
    const float* sc = scores_.data() + t * E_;
    if (moe_.scoring == MoeScoring::kSoftmax) {
      float dot = 0.0f;
      for (int64_t e = 0; e < E_; ++e) dot += sc[e] * d[e];
      for (int64_t e = 0; e < E_; ++e) d[e] = sc[e] * (d[e] - dot);
    } else {
      for (int64_t e = 0; e < E_; ++e) d[e] *= sc[e] * (1.0f - sc[e]);
    }
  }
  LinearBackward(pool, xn, T, H_, gate_weight_.view(), E_, dscores.data(), dxn, gate_weight_.grad(), nullptr);
}

}  // namespace dsvl::train
