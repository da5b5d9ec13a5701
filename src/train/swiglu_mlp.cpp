#include "train/swiglu_mlp.h"

#include <algorithm>

#include "dsvl/error.h"
#include "train/grad_ops.h"

namespace dsvl::train {

SwiGluMlp::SwiGluMlp(const WeightStore& weights, ParamSet& params, const std::string& prefix, int64_t hidden,
                     int64_t inter)
    : hidden_(hidden),
      inter_(inter),
      gate_(params, weights, prefix + "gate_proj.weight", Shape{inter, hidden}),
      up_(params, weights, prefix + "up_proj.weight", Shape{inter, hidden}),
      down_(params, weights, prefix + "down_proj.weight", Shape{hidden, inter}) {}

void SwiGluMlp::Forward(ThreadPool& pool, const float* x, int64_t T, float* out) {
  x_ = x;
  T_ = T;
  const size_t n = static_cast<size_t>(T * inter_);
  g_.assign(n, 0.0f);
  u_.assign(n, 0.0f);
  s_.assign(n, 0.0f);
  LinearForward(pool, x, T, hidden_, gate_.view(), inter_, nullptr, g_.data());
  LinearForward(pool, x, T, hidden_, up_.view(), inter_, nullptr, u_.data());
  SwiGluForward(g_.data(), u_.data(), T * inter_, s_.data());
  LinearForward(pool, s_.data(), T, inter_, down_.view(), hidden_, nullptr, out);
}

void SwiGluMlp::Backward(ThreadPool& pool, const float* dout, float* dx) {
  if (!x_) Throw(ErrorCode::kInvalidArgument, "training SwiGLU MLP: Backward without a Forward");
  const int64_t T = T_;
  const size_t n = static_cast<size_t>(T * inter_);
  // Scratch lives for this call only: a decoder has one SwiGluMlp per layer, and buffers kept by
  // each would add three [T, inter] arrays per layer to the activations.
  std::vector<float> ds(n, 0.0f), dg(n), du(n);
  LinearBackward(pool, s_.data(), T, inter_, down_.view(), hidden_, dout, ds.data(), down_.grad(), nullptr);
  SwiGluBackward(g_.data(), u_.data(), T * inter_, ds.data(), dg.data(), du.data());
  LinearBackward(pool, x_, T, hidden_, gate_.view(), inter_, dg.data(), dx, gate_.grad(), nullptr);
  LinearBackward(pool, x_, T, hidden_, up_.view(), inter_, du.data(), dx, up_.grad(), nullptr);
}

}  // namespace dsvl::train
