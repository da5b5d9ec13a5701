// DeepSeek-VL2 image path (modeling_deepseek_vl_v2.py prepare_inputs_embeds): dynamic tiling, all
// views of one image through SigLIP-SO400M as one batch, downsample_mlp_gelu projector, then the
// 2-D layout with the learned image_newline / view_seperator vectors.
#include <algorithm>
#include <string>
#include <vector>

#include "adaptor/projector.h"
#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "model/model_config.h"
#include "model/vl_image_embedders.h"
#include "vision/preprocess_vl2.h"
#include "vision/vit.h"

namespace dsvl {

int64_t Vl2ImageTokens(int64_t side, int64_t tiles_w, int64_t tiles_h) {
  return side * (side + 1) + 1 + (tiles_h * side) * (tiles_w * side + 1);
}

void Vl2LayoutRows(const float* views, int64_t side, int64_t tiles_w, int64_t tiles_h, int64_t dim,
                   const float* newline, const float* separator, bool global_first, float* rows) {
  const int64_t view_rows = side * side;
  float* dst = rows;
  auto put = [&](const float* src) {
    std::copy_n(src, dim, dst);
    dst += dim;
  };
  auto global = [&]() {
    for (int64_t y = 0; y < side; ++y) {
      for (int64_t x = 0; x < side; ++x) put(views + (y * side + x) * dim);
      put(newline);
    }
  };
  // rearrange "(th tw) (h w) d -> (th h) (tw w) d", a newline after each mosaic row.
  auto local = [&]() {
    for (int64_t ty = 0; ty < tiles_h; ++ty)
      for (int64_t y = 0; y < side; ++y) {
        for (int64_t tx = 0; tx < tiles_w; ++tx) {
          const float* tile = views + (1 + ty * tiles_w + tx) * view_rows * dim;
          for (int64_t x = 0; x < side; ++x) put(tile + (y * side + x) * dim);
        }
        put(newline);
      }
  };
  if (global_first) {
    global();
    put(separator);
    local();
  } else {
    local();
    put(separator);
    global();
  }
}

namespace {

class Vl2ImageEmbedder final : public ImageEmbedder {
 public:
  Vl2ImageEmbedder(const ModelConfig& config, const WeightStore& weights)
      : processor_(config.vl2_processor),
        layout_(config.vl2_layout),
        vit_(RequireSiglip(config), weights),
        projector_(config.projector, weights) {
    const std::string where = config.dir + " (DeepSeek-VL2 vision)";
    if (!layout_.tile_2d) {
      Throw(ErrorCode::kUnsupported, ErrorContext{where, "tile_tag", "\"2D\"", "\"1D\"",
                                                  "the 1D layout is abandoned in the official code"});
    }
    if (config.projector.type != ProjectorType::kDownsampleMlpGelu) {
      Throw(ErrorCode::kCorruptData,
            ErrorContext{where, "projector_config.projector_type", "downsample_mlp_gelu",
                         ProjectorTypeName(config.projector.type), ""});
    }
    if (processor_.image_size() != vit_.config().image_size) {
      Throw(ErrorCode::kCorruptData,
            ErrorContext{where, "processor candidate_resolutions[0]",
                         std::to_string(vit_.config().image_size) + " (the vision tower's image_size)",
                         std::to_string(processor_.image_size()), ""});
    }
    if (projector_.input_dim() != vit_.width()) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "projector_config.input_dim",
                                                  std::to_string(vit_.width()) + " (vision width)",
                                                  std::to_string(projector_.input_dim()), ""});
    }
    const int64_t D = projector_.output_dim();
    if (config.llm.hidden_size > 0 && config.llm.hidden_size != D) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "projector_config.n_embed",
                                                  std::to_string(config.llm.hidden_size) + " (LLM hidden_size)",
                                                  std::to_string(D), ""});
    }
    side_ = projector_.DownsampledGrid(vit_.config().grid());
    // Learned layout vectors (checkpoint spelling "view_seperator"), widened once: D floats each.
    newline_.resize(static_cast<size_t>(D));
    separator_.resize(static_cast<size_t>(D));
    kernels::ToF32(weights.Get("image_newline", Shape{D}), 0, D, newline_.data());
    kernels::ToF32(weights.Get("view_seperator", Shape{D}), 0, D, separator_.data());
  }

  int64_t NumTokens(const RgbImage& image, int64_t images_in_conversation) const override {
    const auto [tw, th] = Tiles(image, images_in_conversation);
    return Vl2ImageTokens(side_, tw, th);
  }

  ImageEmbedding Embed(ThreadPool& pool, const RgbImage& image, int64_t images_in_conversation,
                       YieldFn yield) const override {
    const bool cropping = images_in_conversation <= 2;
    const Vl2Views views = PreprocessVl2(image, processor_, cropping, &pool);
    const int64_t n = views.pixels.dim(0), T = vit_.tokens(), D = projector_.output_dim();
    DSVL_CHECK(n == 1 + views.tiles_w * views.tiles_h, "VL2 views " + std::to_string(n));
    yield();
    Tensor features = Tensor::Empty(DType::kF32, Shape{n, T, vit_.width()});
    vit_.Forward(pool, views.pixels.f32(), n, features.f32(), yield);
    Tensor projected = Tensor::Empty(DType::kF32, Shape{n, side_ * side_, D});
    projector_.ForwardDownsample(pool, features.f32(), n, vit_.config().grid(), projected.f32());

    ImageEmbedding e;
    e.tiles_w = views.tiles_w;
    e.tiles_h = views.tiles_h;
    e.rows = Tensor::Empty(DType::kF32, Shape{Vl2ImageTokens(side_, e.tiles_w, e.tiles_h), D});
    Vl2LayoutRows(projected.f32(), side_, e.tiles_w, e.tiles_h, D, newline_.data(), separator_.data(),
                  layout_.global_view_first, e.rows.f32());
    return e;
  }

 private:
  static const VitConfig& RequireSiglip(const ModelConfig& config) {
    if (!config.siglip) {
      Throw(ErrorCode::kCorruptData,
            ErrorContext{config.dir + " (DeepSeek-VL2 vision)", "vision_config", "a SigLIP tower", "none", ""});
    }
    return *config.siglip;
  }

  // (tiles_w, tiles_h) as the processor will tile: only conversations with <= 2 images are cropped.
  std::pair<int64_t, int64_t> Tiles(const RgbImage& image, int64_t images_in_conversation) const {
    if (images_in_conversation > 2) return {1, 1};
    const auto [w, h] = SelectBestResolution(image.width, image.height, processor_.candidate_resolutions);
    const int64_t s = processor_.image_size();
    return {w / s, h / s};
  }

  Vl2ProcessorConfig processor_;
  Vl2Layout layout_;
  VisionTransformer vit_;
  Projector projector_;
  int64_t side_ = 0;
  std::vector<float> newline_, separator_;
};

}  // namespace

std::unique_ptr<ImageEmbedder> CreateVl2ImageEmbedder(const ModelConfig& config, const WeightStore& weights) {
  return std::make_unique<Vl2ImageEmbedder>(config, weights);
}

}  // namespace dsvl
