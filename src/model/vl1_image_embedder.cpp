// DeepSeek-VL image path (modeling_vlm.py prepare_inputs_embeds): VLMImageProcessor pixels ->
// vision tower -> aligner. 1.3B: CLIPVisionTower = SigLIP on the processor's (normalised) pixels and
// the mlp_gelu aligner. 7B: HybridVisionTower on [0, 1] pixels and the hybrid-split aligner.
#include <memory>
#include <optional>
#include <string>

#include "adaptor/projector.h"
#include "dsvl/error.h"
#include "model/model_config.h"
#include "model/vl_image_embedders.h"
#include "vision/hybrid_tower.h"
#include "vision/preprocess_vl1.h"
#include "vision/vit.h"

namespace dsvl {
namespace {

class Vl1ImageEmbedder final : public ImageEmbedder {
 public:
  Vl1ImageEmbedder(const ModelConfig& config, const WeightStore& weights)
      : processor_(config.vl1_processor), projector_(config.projector, weights) {
    const std::string where = config.dir + " (DeepSeek-VL vision)";
    if (!config.siglip) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "vision_config", "a SigLIP tower", "none", ""});
    }
    int64_t tower_size = 0;
    if (config.sam) {
      hybrid_.emplace(*config.sam, *config.siglip, weights);
      tokens_ = hybrid_->tokens();
      tower_size = hybrid_->image_size();
      Expect(where, ProjectorType::kLowHighHybridSplitMlpGelu, config.projector.type);
      ExpectDim(where, "SAM output channels", hybrid_->high_channels());
      ExpectDim(where, "SigLIP width", hybrid_->low_width());
    } else {
      siglip_.emplace(*config.siglip, weights);
      tokens_ = siglip_->tokens();
      tower_size = siglip_->config().image_size;
      Expect(where, ProjectorType::kMlpGelu, config.projector.type);
      ExpectDim(where, "SigLIP width", siglip_->width());
    }
    if (processor_.image_size != tower_size) {
      Throw(ErrorCode::kCorruptData,
            ErrorContext{where, "preprocessor image_size", std::to_string(tower_size) + " (the tower's input)",
                         std::to_string(processor_.image_size), ""});
    }
    if (config.tokens_per_image_vl1 != tokens_) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "image tokens per image", std::to_string(tokens_) +
                                                  " (the tower's output)",
                                                  std::to_string(config.tokens_per_image_vl1), ""});
    }
    if (config.llm.hidden_size > 0 && config.llm.hidden_size != projector_.output_dim()) {
      Throw(ErrorCode::kCorruptData,
            ErrorContext{where, "aligner n_embed", std::to_string(config.llm.hidden_size) + " (LLM hidden_size)",
                         std::to_string(projector_.output_dim()), ""});
    }
  }

  int64_t NumTokens(const RgbImage& image, int64_t images_in_conversation) const override { return tokens_; }

  ImageEmbedding Embed(ThreadPool& pool, const RgbImage& image, int64_t images_in_conversation,
                       YieldFn yield) const override {
    const Tensor pixels = PreprocessVl1(image, processor_, &pool);
    yield();
    ImageEmbedding e;
    e.rows = Tensor::Empty(DType::kF32, Shape{tokens_, projector_.output_dim()});
    if (hybrid_) {
      Tensor high = Tensor::Empty(DType::kF32, Shape{tokens_, hybrid_->high_channels()});
      Tensor low = Tensor::Empty(DType::kF32, Shape{tokens_, hybrid_->low_width()});
      hybrid_->Forward(pool, pixels.f32(), high.f32(), low.f32(), yield);
      projector_.ForwardHybrid(pool, high.f32(), low.f32(), tokens_, e.rows.f32());
    } else {
      Tensor features = Tensor::Empty(DType::kF32, Shape{tokens_, siglip_->width()});
      siglip_->Forward(pool, pixels.f32(), 1, features.f32(), yield);
      projector_.Forward(pool, features.f32(), tokens_, e.rows.f32());
    }
    return e;
  }

 private:
  static void Expect(const std::string& where, ProjectorType want, ProjectorType got) {
    if (want != got) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "aligner_config.params.projector_type",
                                                  std::string(ProjectorTypeName(want)) + " (for this vision tower)",
                                                  ProjectorTypeName(got), ""});
    }
  }
  void ExpectDim(const std::string& where, const char* what, int64_t dim) const {
    if (dim != projector_.input_dim()) {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, "aligner input_dim", std::to_string(dim) + " (" + what + ")",
                                                  std::to_string(projector_.input_dim()), ""});
    }
  }

  Vl1ProcessorConfig processor_;
  Projector projector_;
  std::optional<HybridTower> hybrid_;
  std::optional<VisionTransformer> siglip_;
  int64_t tokens_ = 0;
};

}  // namespace

std::unique_ptr<ImageEmbedder> CreateVl1ImageEmbedder(const ModelConfig& config, const WeightStore& weights) {
  return std::make_unique<Vl1ImageEmbedder>(config, weights);
}

}  // namespace dsvl
