#include "model/image_embedder.h"

#include "model/model_config.h"
#include "model/vl_image_embedders.h"

namespace dsvl {

std::unique_ptr<ImageEmbedder> CreateImageEmbedder(const ModelConfig& config, const WeightStore& weights) {
  if (config.family == ModelFamily::kDeepSeekVL) return CreateVl1ImageEmbedder(config, weights);
  return CreateVl2ImageEmbedder(config, weights);
}

}  // namespace dsvl
