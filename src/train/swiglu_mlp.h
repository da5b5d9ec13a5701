// One SwiGLU feed-forward, down(silu(gate(x)) ⊙ up(x)): the dense MLP of Llama and DeepseekV2 layers
// and every DeepSeekMoE expert, routed or shared. The forward keeps its activations; the backward
// accumulates the three weights' gradients (trainable ones) and the input's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "train/param_set.h"

namespace dsvl {

class WeightStore;

namespace train {

class SwiGluMlp {
 public:
  SwiGluMlp() = default;
  // Reads <prefix>{gate,up,down}_proj.weight, checked against [inter, hidden] / [hidden, inter].
  SwiGluMlp(const WeightStore& weights, ParamSet& params, const std::string& prefix, int64_t hidden,
            int64_t inter);

  // out[T, hidden] (overwritten) from x[T, hidden], which must stay alive until Backward.
  void Forward(ThreadPool& pool, const float* x, int64_t T, float* out);
  // Given dout[T, hidden]: accumulates the weights' gradients and dx[T, hidden] (+=).
  void Backward(ThreadPool& pool, const float* dout, float* dx);

 private:
  int64_t hidden_ = 0, inter_ = 0;
  WeightRef gate_, up_, down_;
  const float* x_ = nullptr;
  int64_t T_ = 0;
  std::vector<float> g_, u_, s_;  // gate and up outputs, their SwiGLU [T, inter]
};

}  // namespace train
}  // namespace dsvl
