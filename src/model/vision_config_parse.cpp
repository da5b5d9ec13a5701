// vision_config -> VitConfig / SamConfig. The official DeepSeek-VL code sizes its towers from tables
// keyed by model name (siglip_vit.py SigLIP_MODEL_CONFIG, sam.py SAM_MODEL_CONFIG); dsvl starts from
// the same tables, applies tiny_arch.json (the test checkpoints' patched tables), then takes every
// dimension the weights reveal from the weights, so any width loads without a code change.
#include <string>

#include "dsvl/error.h"

#include "io/safetensors.h"
#include "model/config_parse.h"

namespace dsvl {
namespace {

using json = nlohmann::json;
namespace lim = config_limits;

struct VitTableEntry {
  const char* name;
  int64_t image_size, patch_size, width, layers, heads;
  double mlp_ratio;
};

constexpr VitTableEntry kSiglipTable[] = {
    {"siglip_so400m_patch14_384", 384, 14, 1152, 27, 16, 3.7362},
    {"siglip_so400m_patch14_224", 224, 14, 1152, 27, 16, 3.7362},
    {"siglip_large_patch16_384", 384, 16, 1024, 24, 16, 4.0},
    {"siglip_large_patch16_256", 256, 16, 1024, 24, 16, 4.0},
};

int64_t CountBlocks(const WeightStore& w, const std::string& prefix, const char* probe) {
  int64_t n = 0;
  while (w.Has(prefix + "blocks." + std::to_string(n) + "." + probe)) ++n;
  return n;
}

// Overrides the table entry with tiny_arch.json[name] when present.
VitConfig VitFromTable(const std::string& file, const ConfigReader& at, const std::string& name,
                       const json* tiny_arch) {
  const VitTableEntry* e = nullptr;
  for (const auto& t : kSiglipTable) {
    if (name == t.name) e = &t;
  }
  VitConfig v;
  double mlp_ratio = 4.0;
  if (e) {
    v.image_size = e->image_size;
    v.patch_size = e->patch_size;
    v.width = e->width;
    v.layers = e->layers;
    v.heads = e->heads;
    mlp_ratio = e->mlp_ratio;
  }
  const bool patched = tiny_arch && tiny_arch->is_object() && tiny_arch->contains(name);
  if (!e && !patched) {
    at.Unsupported("model_name", "a SigLIP model (siglip_so400m_patch14_384, siglip_large_patch16_384, ...)",
                   "\"" + name + "\"");
  }
  if (patched) {
    ConfigReader t("tiny_arch.json", tiny_arch->at(name), name);
    v.image_size = t.BoundedInt("image_size", v.image_size, lim::kVisionImageSize);
    v.patch_size = t.BoundedInt("patch_size", v.patch_size, lim::kPatchSize);
    v.width = t.BoundedInt("width", v.width, lim::kVisionWidth);
    v.layers = t.BoundedInt("layers", v.layers, lim::kVisionLayers);
    v.heads = t.BoundedInt("heads", v.heads, lim::kVisionHeads);
    mlp_ratio = t.PositiveNumber("mlp_ratio", mlp_ratio, lim::kMaxMlpRatio);
  }
  v.mlp_hidden = static_cast<int64_t>(static_cast<double>(v.width) * mlp_ratio);
  (void)file;
  return v;
}

// Widths the weights reveal win over tables; the block count bounds the layers run.
void VitFromWeights(const WeightStore* w, VitConfig& v) {
  if (!w) return;
  if (const WeightInfo* pe = w->Find(v.prefix + "patch_embed.proj.weight"); pe && pe->view.rank() == 4) {
    v.width = pe->view.dim(0);
    v.patch_size = pe->view.dim(2);
  }
  if (const WeightInfo* fc1 = w->Find(v.prefix + "blocks.0.mlp.fc1.weight"); fc1 && fc1->view.rank() == 2) {
    v.mlp_hidden = fc1->view.dim(0);
  }
  const int64_t blocks = CountBlocks(*w, v.prefix, "norm1.weight");
  if (blocks > 0 && blocks < v.layers) v.layers = blocks;
}

// Every size ends up here whatever its source (table, config, tiny_arch.json, weights), so the
// ranges hold before the manifest or a tower is built from them.
void CheckVit(const ConfigReader& at, const VitConfig& v) {
  at.CheckRange("width", v.width, lim::kVisionWidth);
  at.CheckRange("heads", v.heads, lim::kVisionHeads);
  at.CheckRange("patch_size", v.patch_size, lim::kPatchSize);
  at.CheckRange("image_size", v.image_size, lim::kVisionImageSize);
  at.CheckRange("mlp_ratio", v.mlp_hidden, IntRange{1, v.width * static_cast<int64_t>(lim::kMaxMlpRatio)});
  if (v.width <= 0 || v.heads <= 0 || v.width % v.heads != 0) {
    at.Fail("heads", "a divisor of the width " + std::to_string(v.width), std::to_string(v.heads));
  }
  if (v.patch_size <= 0 || v.image_size < v.patch_size) {
    at.Fail("image_size", "at least one patch of " + std::to_string(v.patch_size), std::to_string(v.image_size));
  }
  if (v.layers <= 0) at.Fail("select_layer", "at least one transformer block", std::to_string(v.layers));
  at.CheckRange("layers", v.layers, lim::kVisionLayers);
  if (v.grid() > lim::kMaxPatchGrid) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{at.file(), at.Path("image_size") + " / patch_size",
                       "at most " + std::to_string(lim::kMaxPatchGrid) + " patches per side",
                       std::to_string(v.image_size) + " / " + std::to_string(v.patch_size) + " = " +
                           std::to_string(v.grid()),
                       "(dsvl limit, see docs/limits.md)"});
  }
}

// deepseek_vl/models/siglip_vit.py create_siglip_vit: select_layer <= 0 keeps layers + select_layer + 1
// blocks; a positive value keeps that many. The final norm is applied either way.
int64_t SelectLayers(int64_t layers, int64_t select_layer) {
  if (select_layer <= 0) return std::min(layers, layers + select_layer + 1);
  return std::min(layers, select_layer);
}

VitConfig ParseVl1Siglip(const ConfigReader& p, const json* tiny_arch, const WeightStore* weights,
                         const std::string& prefix) {
  const std::string name = p.RequireString("model_name");
  VitConfig v = VitFromTable(p.file(), p, name, tiny_arch);
  v.prefix = prefix;
  v.image_size = p.BoundedInt("image_size", v.image_size, lim::kVisionImageSize);
  const std::string feature = p.String("select_feature", "patch").value_or("patch");
  // SigLIP has no class token: "same" and "cls_patch" keep every token; "patch" would drop one patch.
  if (feature != "same" && feature != "cls_patch") {
    p.Unsupported("select_feature", "\"same\" (SigLIP has no class token)", "\"" + feature + "\"");
  }
  const int64_t select_layer = p.Int("select_layer", -1).value_or(-1);
  p.CheckRange("select_layer", select_layer, lim::kSelectLayer);
  const int64_t table_layers = v.layers;
  VitFromWeights(weights, v);
  v.layers = SelectLayers(std::min(v.layers, table_layers), select_layer);
  v.gelu = GeluKind::kErf;  // DeepSeek-VL's siglip_vit.py uses nn.GELU (exact), unlike timm's SigLIP
  if (p.Has("pixel_mean") && !p.IsNull("pixel_mean")) {
    v.normalize = true;
    v.mean = p.Triple("pixel_mean", v.mean);
    v.std = p.Triple("pixel_std", v.std);
  }
  CheckVit(p, v);
  return v;
}

SamConfig ParseVl1Sam(const ConfigReader& p, const json* tiny_arch, const WeightStore* weights,
                      const std::string& prefix) {
  const std::string name = p.RequireString("model_name");
  if (name != "sam_b_downsample") p.Unsupported("model_name", "\"sam_b_downsample\"", "\"" + name + "\"");
  SamConfig s;
  s.prefix = prefix;
  s.image_size = p.BoundedInt("image_size", 1024, lim::kVisionImageSize);
  s.normalize = p.Has("pixel_mean") && !p.IsNull("pixel_mean");
  s.mean = p.Triple("pixel_mean", s.mean);
  s.std = p.Triple("pixel_std", s.std);
  if (tiny_arch && tiny_arch->is_object() && tiny_arch->contains(name)) {
    ConfigReader t("tiny_arch.json", tiny_arch->at(name), name);
    s.width = t.BoundedInt("width", s.width, lim::kVisionWidth);
    s.depth = t.BoundedInt("layers", s.depth, lim::kVisionLayers);
    s.heads = t.BoundedInt("heads", s.heads, lim::kVisionHeads);
    s.global_attn_indexes = t.IntList("global_attn_indexes", s.global_attn_indexes);
    auto ds = t.IntList("downsample_channels", {s.downsample_channels[0], s.downsample_channels[1]});
    if (ds.size() != 2) t.Fail("downsample_channels", "2 channel counts", std::to_string(ds.size()));
    for (int64_t ch : ds) t.CheckRange("downsample_channels", ch, lim::kSamChannels);
    s.downsample_channels = {ds[0], ds[1]};
    s.neck_channels = t.BoundedInt("prompt_embed_dim", s.neck_channels, lim::kSamChannels);
  }
  s.mlp_hidden = s.width * 4;
  if (weights) {
    if (const WeightInfo* pe = weights->Find(prefix + "patch_embed.proj.weight"); pe && pe->view.rank() == 4) {
      s.width = pe->view.dim(0);
      s.patch_size = pe->view.dim(2);
    }
    if (const WeightInfo* l1 = weights->Find(prefix + "blocks.0.mlp.lin1.weight"); l1 && l1->view.rank() == 2) {
      s.mlp_hidden = l1->view.dim(0);
    }
    if (const WeightInfo* n0 = weights->Find(prefix + "neck.0.weight"); n0 && n0->view.rank() == 4) {
      s.neck_channels = n0->view.dim(0);
    }
    for (int i = 0; i < 2; ++i) {
      if (const WeightInfo* d = weights->Find(prefix + "downsamples." + std::to_string(i) + ".weight");
          d && d->view.rank() == 4) {
        s.downsample_channels[static_cast<size_t>(i)] = d->view.dim(0);
      }
    }
    const int64_t blocks = CountBlocks(*weights, prefix, "norm1.weight");
    if (blocks > 0) s.depth = blocks;
  }
  // Widths may come from the weights: the ranges are checked on the final values.
  p.CheckRange("width", s.width, lim::kVisionWidth);
  p.CheckRange("heads", s.heads, lim::kVisionHeads);
  p.CheckRange("layers", s.depth, lim::kVisionLayers);
  p.CheckRange("patch_size", s.patch_size, lim::kPatchSize);
  p.CheckRange("mlp_hidden", s.mlp_hidden, IntRange{1, s.width * static_cast<int64_t>(lim::kMaxMlpRatio)});
  p.CheckRange("neck_channels", s.neck_channels, lim::kSamChannels);
  for (int64_t ch : s.downsample_channels) p.CheckRange("downsample_channels", ch, lim::kSamChannels);
  if (s.width % s.heads != 0) {
    p.Fail("heads", "a divisor of the SAM width " + std::to_string(s.width), std::to_string(s.heads));
  }
  if (s.global_attn_indexes.empty()) p.Fail("global_attn_indexes", "at least one global block", "none");
  for (int64_t g : s.global_attn_indexes) {
    if (g < 0 || g >= s.depth) {
      p.Fail("global_attn_indexes", "block indexes below depth " + std::to_string(s.depth), std::to_string(g));
    }
  }
  if (s.image_size % s.patch_size != 0) {
    p.Fail("image_size", "a multiple of the patch size " + std::to_string(s.patch_size), std::to_string(s.image_size));
  }
  if (s.image_size / s.patch_size > lim::kMaxPatchGrid) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{p.file(), p.Path("image_size") + " / patch_size",
                       "at most " + std::to_string(lim::kMaxPatchGrid) + " patches per side",
                       std::to_string(s.image_size / s.patch_size), "(dsvl limit, see docs/limits.md)"});
  }
  return s;
}

}  // namespace

void ParseVl1Vision(const ConfigReader& vision, const json* tiny_arch, const WeightStore* weights,
                    ModelConfig& out) {
  const std::string cls = vision.RequireString("cls");
  const ConfigReader params = vision.Object("params");
  if (cls == "CLIPVisionTower") {
    out.siglip = ParseVl1Siglip(params, tiny_arch, weights, "vision_model.vision_tower.");
  } else if (cls == "HybridVisionTower") {
    const std::string concat = params.String("concat_type", "tuple").value_or("null");
    if (concat != "tuple") params.Unsupported("concat_type", "\"tuple\"", "\"" + concat + "\"");
    out.sam = ParseVl1Sam(params.Object("high_res_cfg"), tiny_arch, weights,
                          "vision_model.vision_tower_high.vision_tower.");
    out.siglip = ParseVl1Siglip(params.Object("low_res_cfg"), tiny_arch, weights,
                                "vision_model.vision_tower_low.vision_tower.");
  } else {
    vision.Unsupported("cls", "\"CLIPVisionTower\" or \"HybridVisionTower\"", "\"" + cls + "\"");
  }
}

VitConfig ParseVl2Vision(const ConfigReader& vc, const WeightStore* weights) {
  const std::string name = vc.String("model_name", "siglip_so400m_patch14_384").value_or("");
  VitConfig v = VitFromTable(vc.file(), vc, name, nullptr);
  v.prefix = "vision.";
  // VisionEncoderConfig keys override the table (the released configs give width/layers/patch/mlp_ratio).
  v.image_size = vc.BoundedInt("image_size", 384, lim::kVisionImageSize);
  v.patch_size = vc.BoundedInt("patch_size", v.patch_size, lim::kPatchSize);
  v.width = vc.BoundedInt("width", v.width, lim::kVisionWidth);
  v.layers = vc.BoundedInt("layers", v.layers, lim::kVisionLayers);
  v.heads = vc.BoundedInt("heads", 16, lim::kVisionHeads);
  const double mlp_ratio = vc.PositiveNumber("mlp_ratio", 3.7362, lim::kMaxMlpRatio);
  v.mlp_hidden = static_cast<int64_t>(static_cast<double>(v.width) * mlp_ratio);
  if (vc.Bool("class_token", false)) vc.Unsupported("class_token", "false", "true");
  const int64_t table_layers = v.layers;
  VitFromWeights(weights, v);
  v.layers = std::min(v.layers, table_layers);
  v.gelu = GeluKind::kTanh;  // deepseek_vl2/models/siglip_vit.py: partial(nn.GELU, approximate='tanh')
  v.normalize = false;       // the processor normalises
  CheckVit(vc, v);
  return v;
}

}  // namespace dsvl
