// DeepSeek-VL2's whole image path in training, as model/vl2_image_embedder.cpp runs it for inference:
// every view of every image through the SigLIP tower as one batch (VitTrainer; the views are
// independent, so batching changes nothing but the summation order), the downsample_mlp_gelu
// projector (Vl2ProjectorTrainer), then the tile layout with image_newline / view_seperator
// (Vl2LayoutTrainer). The backward takes dL/d(the image rows), i.e. the LLM's dL/d(inputs_embeds) at
// the image positions, and accumulates into whichever of these tensors are in the ParamSet.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "train/param_set.h"
#include "train/vit_trainer.h"
#include "train/vl2_image_layout.h"
#include "train/vl2_projector_trainer.h"

namespace dsvl {

class WeightStore;
struct ModelConfig;

namespace train {

class Vl2ImageTrainer {
 public:
  // Throws dsvl::Error unless config is a VL2 model (SigLIP tower, downsample_mlp_gelu projector
  // whose input is the tower's width, 2D tile layout) with the tensors it names.
  Vl2ImageTrainer(const ModelConfig& config, const WeightStore& weights, ParamSet& params);

  int64_t hidden() const { return projector_.output_dim(); }
  int64_t side() const { return side_; }  // merged token grid per view (14)
  int64_t image_size() const { return image_size_; }

  // pixels: every image's views in order, each image [1 + tiles_w*tiles_h, 3, S, S] as PreprocessVl2
  // makes them (global view, then tiles row-major); tiles: (tiles_w, tiles_h) per image. Writes every
  // image's rows in order (Vl2ImageTokens each) and returns their count. Keeps the activations.
  int64_t Forward(ThreadPool& pool, const float* pixels, const std::vector<std::pair<int64_t, int64_t>>& tiles,
                  float* rows);
  // d_rows: the gradient of the last Forward's rows.
  void Backward(ThreadPool& pool, const float* d_rows);
  // The projector output of the last Forward, [Σ views, side*side, hidden] (the fixtures' projector_out).
  const std::vector<float>& projector_out() const { return projected_; }

 private:
  VitTrainer vit_;
  Vl2ProjectorTrainer projector_;
  Vl2LayoutTrainer layout_;
  bool global_first_ = true;
  int64_t grid_ = 0, side_ = 0, image_size_ = 0, views_ = 0;
  std::vector<float> features_, projected_, d_projected_, d_features_;
};

}  // namespace train
}  // namespace dsvl
