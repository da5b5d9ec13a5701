// LoadModelConfig: config.json (+ processor config, tiny_arch.json) -> ModelConfig. The family comes
// from model_type; everything else from the files and the weights' shapes, never from a model name.
#include "model/model_config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "model/config_parse.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace lim = config_limits;

constexpr size_t kMaxConfigBytes = 16u << 20;  // configs are a few KB; refuse anything absurd

ProjectorConfig ParseVl1Projector(const ConfigReader& aligner, const WeightStore* weights) {
  const ConfigReader p = aligner.Object("params");
  ProjectorConfig c;
  c.prefix = "aligner.";
  const std::string type = p.RequireString("projector_type");
  if (type == "mlp_gelu") {
    c.type = ProjectorType::kMlpGelu;
  } else if (type == "low_high_hybrid_split_mlp_gelu") {
    c.type = ProjectorType::kLowHighHybridSplitMlpGelu;
  } else {
    p.Unsupported("projector_type", "\"mlp_gelu\" or \"low_high_hybrid_split_mlp_gelu\"", "\"" + type + "\"");
  }
  c.input_dim = p.BoundedInt("input_dim", 1024, lim::kProjectorWidth);
  c.n_embed = p.BoundedInt("n_embed", 4096, lim::kProjectorWidth);
  c.depth = p.BoundedInt("depth", 2, lim::kProjectorDepth);
  (void)weights;
  return c;
}

ProjectorConfig ParseVl2Projector(const std::optional<ConfigReader>& pc) {
  // MlpProjectorConfig defaults (modeling_deepseek_vl_v2.py).
  ProjectorConfig c;
  c.prefix = "projector.";
  c.type = ProjectorType::kDownsampleMlpGelu;
  c.input_dim = 1152;
  c.n_embed = 2048;
  c.depth = 2;
  c.mlp_ratio = 1;
  c.downsample_ratio = 2;
  if (!pc) return c;
  const std::string type = pc->String("projector_type", "downsample_mlp_gelu").value_or("null");
  if (type != "downsample_mlp_gelu") pc->Unsupported("projector_type", "\"downsample_mlp_gelu\"", "\"" + type + "\"");
  if (pc->Bool("token_pooling", false)) pc->Unsupported("token_pooling", "false", "true");
  c.input_dim = pc->BoundedInt("input_dim", c.input_dim, lim::kProjectorWidth);
  c.n_embed = pc->BoundedInt("n_embed", c.n_embed, lim::kProjectorWidth);
  c.depth = pc->BoundedInt("depth", c.depth, lim::kProjectorDepth);
  c.mlp_ratio = pc->BoundedInt("mlp_ratio", c.mlp_ratio, lim::kProjectorMlpRatio);
  c.downsample_ratio = pc->BoundedInt("downsample_ratio", c.downsample_ratio, lim::kDownsampleRatio);
  return c;
}

Vl1ProcessorConfig ParseVl1Processor(const ConfigReader& p) {
  // VLMImageProcessor.__init__ defaults (image_processing_vlm.py).
  Vl1ProcessorConfig c;
  c.image_size = p.RequireInt("image_size");
  p.CheckRange("image_size", c.image_size, lim::kProcessorImageSize);
  c.min_size = p.BoundedInt("min_size", 14, IntRange{1, c.image_size});
  c.mean = p.Triple("image_mean", c.mean);
  c.std = p.Triple("image_std", c.std);
  c.rescale_factor = p.Number("rescale_factor", 1.0 / 255.0).value_or(1.0 / 255.0);
  c.do_normalize = p.Bool("do_normalize", true);
  for (int i = 0; i < 3; ++i) {
    if (c.std[static_cast<size_t>(i)] == 0.0f) p.Fail("image_std", "non-zero values", "0");
  }
  return c;
}

Vl2ProcessorConfig ParseVl2Processor(const ConfigReader* p, const ConfigReader& model) {
  Vl2ProcessorConfig c;
  // The processor file carries the list actually used; config.json's copy is the fallback.
  const ConfigReader* source = p && !p->PairList("candidate_resolutions").empty() ? p : &model;
  c.candidate_resolutions = source->PairList("candidate_resolutions");
  if (c.candidate_resolutions.empty()) {
    model.Fail("candidate_resolutions", "a non-empty list (here or in processor_config.json)", "none");
  }
  source->CheckRange("candidate_resolutions (count)", static_cast<int64_t>(c.candidate_resolutions.size()),
                     IntRange{1, lim::kMaxCandidateResolutions});
  const int64_t tile = c.candidate_resolutions[0].first;
  for (const auto& [w, h] : c.candidate_resolutions) {
    const std::string value = std::to_string(w) + "x" + std::to_string(h);
    // Sides are bounded first, so w * h below cannot overflow.
    if (w > lim::kMaxCandidateSide || h > lim::kMaxCandidateSide || w * h > lim::kMaxCandidatePixels) {
      Throw(ErrorCode::kLimitExceeded,
            ErrorContext{source->file(), source->Path("candidate_resolutions"),
                         "sides of at most " + std::to_string(lim::kMaxCandidateSide) + " and at most " +
                             std::to_string(lim::kMaxCandidatePixels) + " pixels",
                         value, "(dsvl limit, see docs/limits.md)"});
    }
    if (w % tile != 0 || h % tile != 0 || w / tile * (h / tile) > lim::kMaxTilesPerResolution) {
      source->Fail("candidate_resolutions",
                   "multiples of the tile size " + std::to_string(tile) + " with at most " +
                       std::to_string(lim::kMaxTilesPerResolution) + " tiles",
                   value);
    }
  }
  if (p) {
    c.patch_size = p->BoundedInt("patch_size", 14, lim::kPatchSize);
    c.downsample_ratio = p->BoundedInt("downsample_ratio", 2, lim::kDownsampleRatio);
    c.mean = p->Triple("image_mean", c.mean);
    c.std = p->Triple("image_std", c.std);
    c.normalize = p->Bool("normalize", true);
  }
  return c;
}

}  // namespace

json ReadJsonFile(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) Throw(ErrorCode::kNotFound, ErrorContext{path, "", "a file", "not found", ""});
  const auto size = fs::file_size(path, ec);
  if (ec || size > kMaxConfigBytes) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{path, "size", "at most " + std::to_string(kMaxConfigBytes) + " bytes",
                       ec ? ec.message() : std::to_string(size) + " bytes", ""});
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) Throw(ErrorCode::kCorruptData, ErrorContext{path, "", "valid JSON", "a parse error", ""});
  return j;
}

ModelConfig ParseModelConfig(const std::string& where, const json& config, const json* processor,
                             const json* tiny_arch, const WeightStore* weights) {
  const std::string file = where.empty() ? "config.json" : where;
  const ConfigReader root(file, config);
  ModelConfig c;
  const std::string model_type = root.RequireString("model_type");
  c.torch_dtype = root.String("torch_dtype", "bfloat16").value_or("bfloat16");
  if (model_type == "multi_modality") {
    c.family = ModelFamily::kDeepSeekVL;
    c.llm = ParseLlamaConfig(root.Object("language_config"));
    if (auto vision = root.OptionalObject("vision_config")) ParseVl1Vision(*vision, tiny_arch, weights, c);
    if (c.siglip) {
      c.projector = ParseVl1Projector(root.Object("aligner_config"), weights);
      if (c.projector.n_embed != c.llm.hidden_size) {
        root.Fail("aligner_config.params.n_embed",
                  "the language model's hidden_size " + std::to_string(c.llm.hidden_size),
                  std::to_string(c.projector.n_embed));
      }
    }
    if (!processor && c.siglip) {
      Throw(ErrorCode::kNotFound, ErrorContext{file, "preprocessor_config.json", "present next to config.json",
                                               "not found", "DeepSeek-VL needs it for image preprocessing"});
    }
    if (processor) c.vl1_processor = ParseVl1Processor(ConfigReader("preprocessor_config.json", *processor));
  } else if (model_type == "deepseek_vl_v2") {
    c.family = ModelFamily::kDeepSeekVL2;
    c.llm = ParseDeepseekV2Config(root.Object("language_config"));
    c.siglip = ParseVl2Vision(root.Object("vision_config"), weights);
    c.projector = ParseVl2Projector(root.OptionalObject("projector_config"));
    std::optional<ConfigReader> proc;
    if (processor) proc.emplace("processor_config.json", *processor);
    c.vl2_processor = ParseVl2Processor(proc ? &*proc : nullptr, root);
    const std::string tile_tag = root.String("tile_tag", "2D").value_or("2D");
    if (tile_tag != "2D") root.Unsupported("tile_tag", "\"2D\"", "\"" + tile_tag + "\"");
    const std::string pos = root.String("global_view_pos", "head").value_or("head");
    if (pos != "head" && pos != "tail") root.Fail("global_view_pos", "\"head\" or \"tail\"", "\"" + pos + "\"");
    c.vl2_layout.global_view_first = pos == "head";
    if (c.projector.n_embed != c.llm.hidden_size) {
      root.Fail("projector_config.n_embed", "the language model's hidden_size " + std::to_string(c.llm.hidden_size),
                std::to_string(c.projector.n_embed));
    }
  } else {
    root.Unsupported("model_type", "\"multi_modality\" (DeepSeek-VL) or \"deepseek_vl_v2\" (DeepSeek-VL2)",
                     "\"" + model_type + "\"");
  }
  return c;
}

ModelConfig LoadModelConfig(const std::string& dir, const WeightStore& weights) {
  const fs::path root(dir);
  const json config = ReadJsonFile((root / "config.json").string());
  // Peek at the family to know which processor file to read.
  const std::string model_type = config.is_object() && config.contains("model_type") &&
                                         config["model_type"].is_string()
                                     ? config["model_type"].get<std::string>()
                                     : "";
  const fs::path proc_path = root / (model_type == "multi_modality" ? "preprocessor_config.json"
                                                                     : "processor_config.json");
  std::error_code ec;
  std::optional<json> processor;
  if (fs::exists(proc_path, ec)) processor = ReadJsonFile(proc_path.string());
  std::optional<json> tiny_arch;
  if (fs::exists(root / "tiny_arch.json", ec)) tiny_arch = ReadJsonFile((root / "tiny_arch.json").string());

  ModelConfig c = ParseModelConfig((root / "config.json").string(), config, processor ? &*processor : nullptr,
                                   tiny_arch ? &*tiny_arch : nullptr, &weights);
  c.dir = dir;
  if (c.family == ModelFamily::kDeepSeekVL) {
    const fs::path vlchat = root / "processor_config.json";
    if (fs::exists(vlchat, ec)) {
      const json p = ReadJsonFile(vlchat.string());
      const ConfigReader r(vlchat.string(), p);
      c.tokens_per_image_vl1 = r.BoundedInt("num_image_tokens", 576, lim::kImageTokens);
    }
    if (c.siglip && c.tokens_per_image_vl1 != c.siglip->num_patches()) {
      Throw(ErrorCode::kCorruptData,
            ErrorContext{(root / "processor_config.json").string(), "num_image_tokens",
                         std::to_string(c.siglip->num_patches()) + " (the SigLIP patch grid)",
                         std::to_string(c.tokens_per_image_vl1), ""});
    }
  }
  return c;
}

}  // namespace dsvl
