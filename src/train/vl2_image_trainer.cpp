#include "train/vl2_image_trainer.h"

#include <string>

#include "dsvl/error.h"
#include "model/model_config.h"

namespace dsvl::train {
namespace {

const VitConfig& RequireVl2(const ModelConfig& c) {
  const std::string where = c.dir + " (training the DeepSeek-VL2 image path)";
  if (!c.siglip) Throw(ErrorCode::kCorruptData, ErrorContext{where, "vision_config", "a SigLIP tower", "none", ""});
  if (c.projector.type != ProjectorType::kDownsampleMlpGelu)
    Throw(ErrorCode::kCorruptData, ErrorContext{where, "projector_config.projector_type", "downsample_mlp_gelu", "", ""});
  if (c.projector.input_dim != c.siglip->width)
    Throw(ErrorCode::kCorruptData, ErrorContext{where, "projector_config.input_dim", std::to_string(c.siglip->width),
                                                std::to_string(c.projector.input_dim), ""});
  if (!c.vl2_layout.tile_2d) Throw(ErrorCode::kUnsupported, ErrorContext{where, "tile_tag", "\"2D\"", "\"1D\"", ""});
  return *c.siglip;
}

}  // namespace

Vl2ImageTrainer::Vl2ImageTrainer(const ModelConfig& config, const WeightStore& weights, ParamSet& params)
    : vit_(RequireVl2(config), weights, params),
      projector_(config.projector, weights, params),
      layout_(weights, params, config.projector.n_embed),
      global_first_(config.vl2_layout.global_view_first),
      grid_(config.siglip->grid()),
      side_(projector_.MergedGrid(grid_)),
      image_size_(config.siglip->image_size) {}

int64_t Vl2ImageTrainer::Forward(ThreadPool& pool, const float* pixels,
                                 const std::vector<std::pair<int64_t, int64_t>>& tiles, float* rows) {
  if (tiles.empty()) Throw(ErrorCode::kInvalidArgument, "training VL2 image path: no images");
  std::vector<Vl2TileGrid> grids;
  views_ = 0;
  for (const auto& [tw, th] : tiles) {
    grids.push_back(Vl2TileGrid{side_, tw, th, global_first_});
    if (tw <= 0 || th <= 0) Vl2LayoutSources(grids.back());  // throws the layout's error
    views_ += grids.back().views();
  }
  features_.assign(static_cast<size_t>(views_ * vit_.tokens() * vit_.width()), 0.0f);
  vit_.Forward(pool, pixels, views_, features_.data());
  projected_.assign(static_cast<size_t>(views_ * side_ * side_ * hidden()), 0.0f);
  projector_.Forward(pool, features_.data(), views_, grid_, projected_.data());
  return layout_.Forward(grids, projected_.data(), rows);
}

void Vl2ImageTrainer::Backward(ThreadPool& pool, const float* d_rows) {
  if (views_ <= 0) Throw(ErrorCode::kInvalidArgument, "training VL2 image path: Backward before Forward");
  d_projected_.assign(projected_.size(), 0.0f);
  layout_.Backward(d_rows, d_projected_.data());
  d_features_.assign(features_.size(), 0.0f);
  projector_.Backward(pool, d_projected_.data(), d_features_.data());
  vit_.Backward(pool, d_features_.data());
}

}  // namespace dsvl::train
