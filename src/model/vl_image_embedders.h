// The two ImageEmbedder implementations behind CreateImageEmbedder, and the VL2 token layout they
// use (exposed for tests).
#pragma once

#include <cstdint>
#include <memory>

#include "model/image_embedder.h"

namespace dsvl {

// DeepSeek-VL: CLIPVisionTower (SigLIP only, 1.3B) or HybridVisionTower (SAM-B + SigLIP, 7B), then
// the aligner; 576 rows per image.
std::unique_ptr<ImageEmbedder> CreateVl1ImageEmbedder(const ModelConfig& config, const WeightStore& weights);
// DeepSeek-VL2: global view + local tiles through SigLIP-SO400M as one batch, downsample projector,
// then the image_newline / view_seperator layout.
std::unique_ptr<ImageEmbedder> CreateVl2ImageEmbedder(const ModelConfig& config, const WeightStore& weights);

// Rows one VL2 image takes (tile_tag "2D"): side*(side+1) global + 1 separator +
// (tiles_h*side) * (tiles_w*side + 1) local, where side is the merged token grid (14).
int64_t Vl2ImageTokens(int64_t side, int64_t tiles_w, int64_t tiles_h);

// Writes those rows. views: [1 + tiles_w*tiles_h, side*side, dim] = [global, tiles row-major];
// every row of the global view and of the local mosaic ends with `newline`; `separator` sits between
// the two views; global_first picks global_view_pos "head" (else "tail": local, separator, global).
void Vl2LayoutRows(const float* views, int64_t side, int64_t tiles_w, int64_t tiles_h, int64_t dim,
                   const float* newline, const float* separator, bool global_first, float* rows);

}  // namespace dsvl
