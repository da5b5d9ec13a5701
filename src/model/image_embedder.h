// Turns one image into the rows that replace its run of image tokens in the prompt embeddings:
// preprocessing + vision tower(s) + projector (+ the VL2 tile layout with image_newline /
// view_seperator). The pipeline only sees this interface, so VL1 and VL2 share every other step.
#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "core/yield_fn.h"
#include "io/image.h"

namespace dsvl {

struct ModelConfig;
class WeightStore;

struct ImageEmbedding {
  Tensor rows;           // [num_tokens, llm hidden], f32
  int64_t tiles_w = 1;   // VL2 local-view grid (images_spatial_crop); 1x1 for VL1
  int64_t tiles_h = 1;
};

class ImageEmbedder {
 public:
  virtual ~ImageEmbedder() = default;
  // Image-token positions this image takes in the prompt (VL1: 576; VL2: depends on tiling).
  // images_in_conversation decides VL2 tiling (tiles only when <= 2 images).
  virtual int64_t NumTokens(const RgbImage& image, int64_t images_in_conversation) const = 0;
  // yield runs between units of work (tower blocks, necks, before the projector) so the caller
  // can lend the pool out meanwhile (core/yield_fn.h); the rows do not depend on what it does.
  // (The default is given here only: callers hold an ImageEmbedder pointer.)
  virtual ImageEmbedding Embed(ThreadPool& pool, const RgbImage& image, int64_t images_in_conversation,
                               YieldFn yield = {}) const = 0;
};

std::unique_ptr<ImageEmbedder> CreateImageEmbedder(const ModelConfig& config, const WeightStore& weights);

}  // namespace dsvl
