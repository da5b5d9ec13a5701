// The Linear (+bias) stack with erf GELU between layers that every DeepSeek-VL adaptor ends in
// (`mlp_gelu`, and `downsample_mlp_gelu` after its token merge): forward keeping each layer's input
// and pre-activation, backward accumulating into the trainable weights.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "train/param_set.h"

namespace dsvl::train {

class GeluMlp {
 public:
  // Appends a Linear whose weight is [out, in] (shapes checked by the caller).
  void AddLayer(WeightRef w, WeightRef b, int64_t in, int64_t out);
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }

  // x[rows, first layer's in] (taken by value: callers move their buffer in) -> out[rows, last out].
  void Forward(ThreadPool& pool, std::vector<float> x, int64_t rows, float* out);
  // dout: the gradient of the last Forward's out. When dx is not null, writes dx[rows, first in].
  void Backward(ThreadPool& pool, const float* dout, float* dx);

 private:
  struct Layer {
    WeightRef w, b;
    int64_t in = 0, out = 0;
  };
  std::vector<Layer> layers_;
  int64_t rows_ = 0;
  // inputs_[i]: layer i's input (for i > 0 the GELU of pre_[i-1]); pre_[i]: layer i's output.
  std::vector<std::vector<float>> inputs_, pre_;
};

}  // namespace dsvl::train
