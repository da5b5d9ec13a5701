// The vision-to-LLM projectors of the official projector.py (VL1 MlpProjector) and
// modeling_deepseek_vl_v2.py (VL2 MlpProjector):
//   mlp_gelu                        Linear (-> GELU -> Linear)*         layers.0, layers.2, ...
//   low_high_hybrid_split_mlp_gelu  concat(high_up_proj(high), low_up_proj(low)) (high first),
//                                   then (GELU -> Linear)*              layers.1, layers.3, ...
//   downsample_mlp_gelu             zero-pad the token grid to a multiple of r (bottom/right), r x r
//                                   F.unfold merge (channel-major: index c*r*r + dy*r + dx), then
//                                   Linear (-> GELU -> Linear)+         layers.0, layers.2, ...
//                                   (at least two Linears, even for depth 1)
// All GELUs are exact (erf). Layer widths are read from the weights and checked to chain.
#pragma once

#include <cstdint>
#include <vector>

#include "adaptor/projector_config.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace dsvl {

class WeightStore;

// The config spelling: "mlp_gelu", "low_high_hybrid_split_mlp_gelu", "downsample_mlp_gelu".
const char* ProjectorTypeName(ProjectorType type);

class Projector {
 public:
  Projector(const ProjectorConfig& config, const WeightStore& weights);

  ProjectorType type() const { return config_.type; }
  int64_t input_dim() const { return config_.input_dim; }
  int64_t output_dim() const { return config_.n_embed; }

  // kMlpGelu: x [rows, input_dim] -> out [rows, output_dim].
  void Forward(ThreadPool& pool, const float* x, int64_t rows, float* out) const;
  // kLowHighHybridSplitMlpGelu: high, low [rows, input_dim] -> out [rows, output_dim].
  void ForwardHybrid(ThreadPool& pool, const float* high, const float* low, int64_t rows, float* out) const;
  // kDownsampleMlpGelu: x = n views of a grid x grid token map [n, grid*grid, input_dim] ->
  // out [n, DownsampledGrid(grid)^2, output_dim], tokens row-major over the merged grid.
  void ForwardDownsample(ThreadPool& pool, const float* x, int64_t n, int64_t grid, float* out) const;
  int64_t DownsampledGrid(int64_t grid) const;

 private:
  struct Dense {
    TensorView w, b;
  };
  void CheckType(ProjectorType wanted, const char* entry) const;
  // The Linear chain with GELU between layers (and before the first for the hybrid type).
  void RunLayers(ThreadPool& pool, const float* x, int64_t rows, float* out) const;

  ProjectorConfig config_;
  Dense high_up_, low_up_;     // hybrid only
  std::vector<Dense> layers_;  // in order
  bool gelu_before_first_ = false;
  int64_t layers_input_ = 0;   // width entering layers_
  int64_t max_width_ = 0;      // widest intermediate
};

}  // namespace dsvl
