#include "train/mha_trainer.h"

#include <algorithm>
#include <cmath>

#include "dsvl/error.h"

namespace dsvl::train {

MhaTrainer::MhaTrainer(const LlmConfig& config, const WeightStore& weights, ParamSet& params,
                       const std::string& prefix)
    : hidden_(config.hidden_size), heads_(config.num_heads), kv_heads_(config.num_kv_heads), head_dim_(config.head_dim) {
  if (heads_ <= 0 || kv_heads_ <= 0 || heads_ % kv_heads_ != 0 || head_dim_ <= 0 || head_dim_ % 2 != 0)
    Throw(ErrorCode::kInvalidArgument, "training attention: heads " + std::to_string(heads_) + ", kv heads " +
                                           std::to_string(kv_heads_) + ", head_dim " + std::to_string(head_dim_) +
                                           " (kv heads must divide heads; head_dim even)");
  const int64_t qw = heads_ * head_dim_, kw = kv_heads_ * head_dim_;
  wq_ = WeightRef(params, weights, prefix + "q_proj.weight", Shape{qw, hidden_});
  wk_ = WeightRef(params, weights, prefix + "k_proj.weight", Shape{kw, hidden_});
  wv_ = WeightRef(params, weights, prefix + "v_proj.weight", Shape{kw, hidden_});
  wo_ = WeightRef(params, weights, prefix + "o_proj.weight", Shape{hidden_, qw});
}

void MhaTrainer::Forward(ThreadPool& pool, const float* xn, int64_t T, const float* cos, const float* sin,
                         float* out) {
  const int64_t Hq = heads_, Hkv = kv_heads_, D = head_dim_, d = hidden_;
  const int64_t qw = Hq * D, kw = Hkv * D;
  xn_ = xn;
  cos_ = cos;
  sin_ = sin;
  shape_ = AttentionShape{T, Hq, Hkv, D, 1.0f / std::sqrt(static_cast<float>(D)), true};
  q_.assign(static_cast<size_t>(T * qw), 0.0f);
  k_.assign(static_cast<size_t>(T * kw), 0.0f);
  v_.assign(k_.size(), 0.0f);
  LinearForward(pool, xn, T, d, wq_.view(), qw, nullptr, q_.data());
  LinearForward(pool, xn, T, d, wk_.view(), kw, nullptr, k_.data());
  LinearForward(pool, xn, T, d, wv_.view(), kw, nullptr, v_.data());
  RopeRotateHalf(q_.data(), T, Hq, D, D, cos, sin, false);
  RopeRotateHalf(k_.data(), T, Hkv, D, D, cos, sin, false);
  attn_.assign(q_.size(), 0.0f);
  lse_.assign(static_cast<size_t>(Hq * T), 0.0f);
  AttentionForward(pool, shape_, q_.data(), k_.data(), v_.data(), attn_.data(), lse_.data());
  LinearForward(pool, attn_.data(), T, qw, wo_.view(), d, nullptr, out);
}

void MhaTrainer::Backward(ThreadPool& pool, const float* dout, float* dxn) {
  if (!xn_) Throw(ErrorCode::kInvalidArgument, "training attention: Backward without a Forward");
  const int64_t T = shape_.T, Hq = heads_, Hkv = kv_heads_, D = head_dim_, d = hidden_;
  const int64_t qw = Hq * D, kw = Hkv * D;
  // Scratch for this call only (one MhaTrainer per layer: kept buffers would add up over layers).
  std::vector<float> dattn(static_cast<size_t>(T * qw), 0.0f), dq(dattn.size(), 0.0f),
      dk(static_cast<size_t>(T * kw), 0.0f), dv(dk.size(), 0.0f);
  LinearBackward(pool, attn_.data(), T, qw, wo_.view(), d, dout, dattn.data(), wo_.grad(), nullptr);
  AttentionBackward(pool, shape_, q_.data(), k_.data(), v_.data(), attn_.data(), lse_.data(), dattn.data(),
                    dq.data(), dk.data(), dv.data());
  RopeRotateHalf(dq.data(), T, Hq, D, D, cos_, sin_, true);
  RopeRotateHalf(dk.data(), T, Hkv, D, D, cos_, sin_, true);
  LinearBackward(pool, xn_, T, d, wq_.view(), qw, dq.data(), dxn, wq_.grad(), nullptr);
  LinearBackward(pool, xn_, T, d, wk_.view(), kw, dk.data(), dxn, wk_.grad(), nullptr);
  LinearBackward(pool, xn_, T, d, wv_.view(), kw, dv.data(), dxn, wv_.grad(), nullptr);
}

}  // namespace dsvl::train
