// Training forward and backward of DeepSeek-VL2's `downsample_mlp_gelu` adaptor (adaptor/projector.h,
// ForwardDownsample): each view's grid x grid token map is zero-padded at the bottom/right to a
// multiple of r, merged r x r by F.unfold (channel-major: merged column c*r*r + dy*r + dx), then
// Linear (-> GELU(erf) -> Linear)+ over `<prefix>layers.{0,2,..}` (at least two Linears; widths read
// from the weights). The backward scatters the merged gradient back to the tower's tokens; the zero
// padding takes none.
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

class Vl2ProjectorTrainer {
 public:
  // Throws dsvl::Error unless config is downsample_mlp_gelu with chaining layer shapes.
  Vl2ProjectorTrainer(const ProjectorConfig& config, const WeightStore& weights, ParamSet& params);

  int64_t input_dim() const { return config_.input_dim; }
  int64_t output_dim() const { return config_.n_embed; }
  // The merged grid side for a grid x grid token map: ceil(grid / r) (27 -> 14).
  int64_t MergedGrid(int64_t grid) const;

  // x: n views [n, grid*grid, input_dim] -> out [n, MergedGrid(grid)^2, output_dim], merged tokens
  // row-major. Keeps the activations for Backward.
  void Forward(ThreadPool& pool, const float* x, int64_t n, int64_t grid, float* out);
  // dout: the gradient of the last Forward's out. Accumulates into the trainable weights and, when dx
  // is not null, writes dx [n, grid*grid, input_dim].
  void Backward(ThreadPool& pool, const float* dout, float* dx);

 private:
  ProjectorConfig config_;
  GeluMlp mlp_;  // after the token merge
  int64_t n_ = 0, grid_ = 0, rows_ = 0;  // last Forward: views, tower grid, merged rows
};

}  // namespace train
}  // namespace dsvl
