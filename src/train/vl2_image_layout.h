// DeepSeek-VL2's tile layout as a differentiable map (tile_tag "2D", model/vl_image_embedders.h
// Vl2LayoutRows): one image's embedding rows are copies of the projected views' rows, of the learned
// `image_newline` (after every row of the global view and of the local mosaic) and of
// `view_seperator` (between the two views). The forward is a gather, so the backward is the matching
// scatter: each view row's gradient is the gradient of the one image row it became, and the newline /
// separator gradients are the sums over every row that copies them.
#pragma once

#include <cstdint>
#include <vector>

#include "train/param_set.h"

namespace dsvl {

class WeightStore;

namespace train {

struct Vl2TileGrid {
  int64_t side = 14;          // merged token grid per view (the projector's MergedGrid)
  int64_t tiles_w = 1, tiles_h = 1;
  bool global_first = true;   // global_view_pos "head"
  int64_t views() const { return 1 + tiles_w * tiles_h; }
};

// Where each image row comes from: a row of the views [views(), side*side] (index view*side*side +
// y*side + x), or one of these.
constexpr int64_t kVl2NewlineRow = -1;
constexpr int64_t kVl2SeparatorRow = -2;
// One entry per image row (Vl2ImageTokens(side, tiles_w, tiles_h) of them), in the official order.
std::vector<int64_t> Vl2LayoutSources(const Vl2TileGrid& grid);

// rows[i] = the source of row i (each row `dim` floats).
void Vl2LayoutForward(const std::vector<int64_t>& sources, const float* views, const float* newline,
                      const float* separator, int64_t dim, float* rows);
// Given d_rows: writes d_views (every view row is the source of exactly one image row) and adds into
// d_newline / d_separator when they are not null.
void Vl2LayoutBackward(const std::vector<int64_t>& sources, const float* d_rows, int64_t dim, int64_t view_rows,
                       float* d_views, float* d_newline, float* d_separator);

// The layout with the checkpoint's `image_newline` / `view_seperator` [dim] (trained when in `params`).
class Vl2LayoutTrainer {
 public:
  // Throws dsvl::Error when either tensor is missing or not [dim].
  Vl2LayoutTrainer(const WeightStore& weights, ParamSet& params, int64_t dim);

  int64_t dim() const { return dim_; }
  // Several images at once (a conversation's): views = every image's views in order, [Σ views(),
  // side*side, dim]; rows = every image's rows in order. Returns the row count.
  int64_t Forward(const std::vector<Vl2TileGrid>& images, const float* views, float* rows);
  // One image: views [grid.views(), side*side, dim] -> rows [Vl2ImageTokens(...), dim].
  int64_t Forward(const Vl2TileGrid& grid, const float* views, float* rows) {
    return Forward(std::vector<Vl2TileGrid>{grid}, views, rows);
  }
  // d_rows: the gradient of the last Forward's rows (e.g. dL/d(inputs_embeds) at the image's
  // positions). Writes d_views and accumulates into the trained newline / separator.
  void Backward(const float* d_rows, float* d_views);

 private:
  int64_t dim_;
  WeightRef newline_, separator_;
  std::vector<int64_t> sources_;
  int64_t view_rows_ = 0;  // rows of the last Forward's views
};

}  // namespace train
}  // namespace dsvl
