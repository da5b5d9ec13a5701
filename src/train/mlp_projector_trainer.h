// Training forward and backward of the `mlp_gelu` adaptor (DeepSeek-VL 1.3B's aligner): Linear, then
// (GELU, Linear) depth-1 times, tensors `<prefix>layers.{0,2,4,..}.{weight,bias}`.
#pragma once

#include <cstdint>
#include <vector>

#include "adaptor/projector_config.h"
#include "core/thread_pool.h"
#include "train/gelu_mlp.h"
#include "train/param_set.h"

namespace dsvl {

class WeightStore;

namespace train {

class MlpProjectorTrainer {
 public:
  MlpProjectorTrainer(const ProjectorConfig& config, const WeightStore& weights, ParamSet& params);

  int64_t input_dim() const { return config_.input_dim; }
  int64_t output_dim() const { return config_.n_embed; }
  // x[rows, input_dim] -> out[rows, output_dim]; keeps the activations for Backward.
  void Forward(ThreadPool& pool, const float* x, int64_t rows, float* out);
  // Gradient of the last Forward's output: accumulates into the trainable weights and, when dx is
  // not null, writes dx[rows, input_dim].
  void Backward(ThreadPool& pool, const float* dout, float* dx);

 private:
  ProjectorConfig config_;
  GeluMlp mlp_;
};

}  // namespace train
}  // namespace dsvl
