#include "model/tensor_manifest.h"

#include <algorithm>

#include "dsvl/error.h"

namespace dsvl {
namespace {

// Appends tensors under one name prefix and group; the helpers mirror the PyTorch modules
// (nn.Linear weight [out, in] + bias [out], LayerNorm weight + bias, RMSNorm weight only).
class ManifestBuilder {
 public:
  ManifestBuilder(std::vector<ExpectedTensor>& out, TensorGroup group, bool used = true)
      : out_(out), group_(group), used_(used) {}

  void Add(const std::string& name, Shape shape, TensorInit init = TensorInit::kNormal,
           bool routed_expert = false, TensorClass cls = TensorClass::kOther) {
    for (int i = 0; i < shape.rank; ++i) {
      if (shape[i] <= 0) {
        Throw(ErrorCode::kInvalidArgument,
              ErrorContext{"tensor manifest", name, "positive dimensions", shape.ToString(),
                           "the model config gives a zero or negative size"});
      }
    }
    out_.push_back(ExpectedTensor{name, shape, used_, init, group_, routed_expert, cls});
  }
  // A tensor of its own class (embedding, lm_head, router gate, convolution ...).
  void AddClass(const std::string& name, Shape shape, TensorClass cls,
                TensorInit init = TensorInit::kNormal) {
    Add(name, shape, init, false, cls);
  }
  void Linear(const std::string& name, int64_t out, int64_t in, bool bias,
              bool routed_expert = false) {
    LinearOf(name, out, in, bias, routed_expert ? TensorClass::kExpert : LinearClass(), routed_expert);
  }
  void LinearOf(const std::string& name, int64_t out, int64_t in, bool bias, TensorClass cls,
                bool routed_expert = false) {
    Add(name + ".weight", {out, in}, TensorInit::kNormal, routed_expert, cls);
    if (bias) Add(name + ".bias", {out}, TensorInit::kZeros, routed_expert, TensorClass::kBias);
  }
  void LayerNorm(const std::string& name, int64_t dim) {
    Add(name + ".weight", {dim}, TensorInit::kOnes, false, TensorClass::kNorm);
    Add(name + ".bias", {dim}, TensorInit::kZeros, false, TensorClass::kNorm);
  }
  void RmsNorm(const std::string& name, int64_t dim) {
    Add(name + ".weight", {dim}, TensorInit::kOnes, false, TensorClass::kNorm);
  }
  void SwiGlu(const std::string& name, int64_t hidden, int64_t inner, bool routed_expert = false,
              bool shared_expert = false) {
    const TensorClass cls =
        routed_expert || shared_expert ? TensorClass::kExpert : LinearClass();
    LinearOf(name + ".gate_proj", inner, hidden, false, cls, routed_expert);
    LinearOf(name + ".up_proj", inner, hidden, false, cls, routed_expert);
    LinearOf(name + ".down_proj", hidden, inner, false, cls, routed_expert);
  }

 private:
  TensorClass LinearClass() const {
    switch (group_) {
      case TensorGroup::kLanguage:
        return TensorClass::kLlmLinear;
      case TensorGroup::kVision:
        return TensorClass::kVisionLinear;
      case TensorGroup::kProjector:
        return TensorClass::kProjectorLinear;
    }
    return TensorClass::kOther;
  }

  std::vector<ExpectedTensor>& out_;
  TensorGroup group_;
  bool used_;
};

// timm VisionTransformer without class token (both SigLIPs): patch embed, pos embed, pre-LN blocks,
// final norm, and the attention-pool head that global_pool="map" builds but ignore_head never runs.
void AddSiglip(const VitConfig& v, std::vector<ExpectedTensor>& out) {
  ManifestBuilder b(out, TensorGroup::kVision);
  const std::string& p = v.prefix;
  const int64_t w = v.width;
  b.AddClass(p + "patch_embed.proj.weight", {w, 3, v.patch_size, v.patch_size}, TensorClass::kVisionConv);
  b.AddClass(p + "patch_embed.proj.bias", {w}, TensorClass::kBias, TensorInit::kZeros);
  b.Add(p + "pos_embed", {1, v.num_patches(), w});
  for (int64_t i = 0; i < v.layers; ++i) {
    const std::string blk = p + "blocks." + std::to_string(i) + ".";
    b.LayerNorm(blk + "norm1", w);
    b.Linear(blk + "attn.qkv", 3 * w, w, true);
    b.Linear(blk + "attn.proj", w, w, true);
    b.LayerNorm(blk + "norm2", w);
    b.Linear(blk + "mlp.fc1", v.mlp_hidden, w, true);
    b.Linear(blk + "mlp.fc2", w, v.mlp_hidden, true);
  }
  b.LayerNorm(p + "norm", w);

  ManifestBuilder pool(out, TensorGroup::kVision, /*used=*/false);
  pool.Add(p + "attn_pool.latent", {1, 1, w});
  pool.Linear(p + "attn_pool.q", w, w, true);
  pool.Linear(p + "attn_pool.kv", 2 * w, w, true);
  pool.Linear(p + "attn_pool.proj", w, w, true);
  pool.LayerNorm(p + "attn_pool.norm", w);
  pool.Linear(p + "attn_pool.mlp.fc1", v.mlp_hidden, w, true);
  pool.Linear(p + "attn_pool.mlp.fc2", w, v.mlp_hidden, true);
}

// SAM ViT-B "sam_b_downsample" (DeepSeek-VL 7B high-resolution branch): docs/model-facts.md, 'VL1 SAM-B branch'.
void AddSam(const SamConfig& s, std::vector<ExpectedTensor>& out) {
  ManifestBuilder b(out, TensorGroup::kVision);
  const std::string& p = s.prefix;
  const int64_t w = s.width;
  const int64_t grid = s.image_size / s.patch_size;
  if (s.heads <= 0 || w % s.heads != 0) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"tensor manifest", "sam heads", "a divisor of width " + std::to_string(w),
                       std::to_string(s.heads), ""});
  }
  const int64_t head_dim = w / s.heads;
  b.AddClass(p + "patch_embed.proj.weight", {w, 3, s.patch_size, s.patch_size}, TensorClass::kVisionConv);
  b.AddClass(p + "patch_embed.proj.bias", {w}, TensorClass::kBias, TensorInit::kZeros);
  b.Add(p + "pos_embed", {1, grid, grid, w});
  for (int64_t i = 0; i < s.depth; ++i) {
    const std::string blk = p + "blocks." + std::to_string(i) + ".";
    const bool global = std::find(s.global_attn_indexes.begin(), s.global_attn_indexes.end(), i) !=
                        s.global_attn_indexes.end();
    // Relative-position tables cover 2*S-1 offsets of the attended extent: a window or the grid.
    const int64_t extent = (global || s.window_size <= 0) ? grid : s.window_size;
    b.LayerNorm(blk + "norm1", w);
    b.Linear(blk + "attn.qkv", 3 * w, w, true);
    b.Linear(blk + "attn.proj", w, w, true);
    b.Add(blk + "attn.rel_pos_h", {2 * extent - 1, head_dim});
    b.Add(blk + "attn.rel_pos_w", {2 * extent - 1, head_dim});
    b.LayerNorm(blk + "norm2", w);
    b.Linear(blk + "mlp.lin1", s.mlp_hidden, w, true);
    b.Linear(blk + "mlp.lin2", w, s.mlp_hidden, true);
  }
  const int64_t c = s.neck_channels;
  for (const char* neck : {"neck.", "neck_hd."}) {
    b.AddClass(p + neck + "0.weight", {c, w, 1, 1}, TensorClass::kVisionConv);
    b.LayerNorm(p + neck + "1", c);
    b.AddClass(p + neck + "2.weight", {c, c, 3, 3}, TensorClass::kVisionConv);
    b.LayerNorm(p + neck + "3", c);
  }
  b.AddClass(p + "downsamples.0.weight", {s.downsample_channels[0], c, 3, 3}, TensorClass::kVisionConv);
  b.AddClass(p + "downsamples.1.weight", {s.downsample_channels[1], s.downsample_channels[0], 3, 3},
             TensorClass::kVisionConv);
  b.Add(p + "hd_alpha_downsamples", {1});
}

void AddProjector(const ModelConfig& config, std::vector<ExpectedTensor>& out) {
  ManifestBuilder b(out, TensorGroup::kProjector);
  const ProjectorConfig& pc = config.projector;
  const std::string& p = pc.prefix;
  const int64_t n = pc.n_embed;
  if (pc.depth < 1) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"tensor manifest", "projector depth", ">= 1", std::to_string(pc.depth), ""});
  }
  switch (pc.type) {
    case ProjectorType::kMlpGelu:
      // [Linear(in, n)] + (depth-1) x [GELU, Linear(n, n)]: Linears at even indices.
      b.Linear(p + "layers.0", n, pc.input_dim, true);
      for (int64_t k = 1; k < pc.depth; ++k)
        b.Linear(p + "layers." + std::to_string(2 * k), n, n, true);
      break;
    case ProjectorType::kLowHighHybridSplitMlpGelu:
      // high/low up-projections to n/2 each, concatenated; then (depth-1) x [GELU, Linear(n, n)].
      b.Linear(p + "high_up_proj", n / 2, pc.input_dim, true);
      b.Linear(p + "low_up_proj", n / 2, pc.input_dim, true);
      for (int64_t k = 1; k < pc.depth; ++k)
        b.Linear(p + "layers." + std::to_string(2 * k - 1), n, n, true);
      break;
    case ProjectorType::kDownsampleMlpGelu: {
      // Linear(in*r*r, n*ratio), (depth-2) x [GELU, Linear(n*ratio, n*ratio)], GELU,
      // Linear(n*ratio, n).
      const int64_t hidden = n * pc.mlp_ratio;
      const int64_t in = pc.input_dim * pc.downsample_ratio * pc.downsample_ratio;
      b.Linear(p + "layers.0", hidden, in, true);
      int64_t index = 2;
      for (int64_t k = 1; k < pc.depth - 1; ++k, index += 2) {
        b.Linear(p + "layers." + std::to_string(index), hidden, hidden, true);
      }
      b.Linear(p + "layers." + std::to_string(index), n, hidden, true);
      break;
    }
  }
  if (config.family == ModelFamily::kDeepSeekVL2) {
    // Learned layout vectors of DeepseekVLV2ForCausalLM (names as in the checkpoint, sic).
    b.Add("image_newline", {n});
    b.Add("view_seperator", {n});
  }
}

void AddLanguageModel(const LlmConfig& c, std::vector<ExpectedTensor>& out) {
  ManifestBuilder b(out, TensorGroup::kLanguage);
  const std::string m = c.prefix + "model.";
  const int64_t h = c.hidden_size;
  b.AddClass(m + "embed_tokens.weight", {c.vocab_size, h}, TensorClass::kEmbedding);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string layer = m + "layers." + std::to_string(i) + ".";
    b.RmsNorm(layer + "input_layernorm", h);
    const std::string attn = layer + "self_attn.";
    if (c.attention == AttentionKind::kMla) {
      const MlaConfig& a = c.mla;
      const int64_t q_head = a.qk_nope_head_dim + a.qk_rope_head_dim;
      if (a.q_lora_rank > 0) {
        b.Linear(attn + "q_a_proj", a.q_lora_rank, h, false);
        b.RmsNorm(attn + "q_a_layernorm", a.q_lora_rank);
        b.Linear(attn + "q_b_proj", c.num_heads * q_head, a.q_lora_rank, false);
      } else {
        b.Linear(attn + "q_proj", c.num_heads * q_head, h, false);
      }
      b.Linear(attn + "kv_a_proj_with_mqa", a.kv_lora_rank + a.qk_rope_head_dim, h, false);
      b.RmsNorm(attn + "kv_a_layernorm", a.kv_lora_rank);
      b.LinearOf(attn + "kv_b_proj", c.num_heads * (a.qk_nope_head_dim + a.v_head_dim),
                 a.kv_lora_rank, false, TensorClass::kMlaKvB);
      b.Linear(attn + "o_proj", h, c.num_heads * a.v_head_dim, false);
    } else {
      b.Linear(attn + "q_proj", c.num_heads * c.head_dim, h, false);
      b.Linear(attn + "k_proj", c.num_kv_heads * c.head_dim, h, false);
      b.Linear(attn + "v_proj", c.num_kv_heads * c.head_dim, h, false);
      b.Linear(attn + "o_proj", h, c.num_heads * c.head_dim, false);
    }
    b.RmsNorm(layer + "post_attention_layernorm", h);
    const std::string mlp = layer + "mlp";
    const MoeConfig& moe = c.moe;
    if (moe.IsMoeLayer(i)) {
      b.AddClass(mlp + ".gate.weight", {moe.n_routed_experts, h}, TensorClass::kRouterGate);
      // MoEGate builds the correction bias only for noaux_tc (docs/model-facts.md, 'DeepSeekMoE routing').
      if (moe.topk_method == MoeTopkMethod::kNoauxTc) {
        b.AddClass(mlp + ".gate.e_score_correction_bias", {moe.n_routed_experts},
                   TensorClass::kRouterGate, TensorInit::kZeros);
      }
      for (int64_t e = 0; e < moe.n_routed_experts; ++e) {
        b.SwiGlu(mlp + ".experts." + std::to_string(e), h, moe.moe_intermediate_size,
                 /*routed_expert=*/true);
      }
      if (moe.n_shared_experts > 0) {
        b.SwiGlu(mlp + ".shared_experts", h, moe.moe_intermediate_size * moe.n_shared_experts,
                 /*routed_expert=*/false, /*shared_expert=*/true);
      }
    } else {
      b.SwiGlu(mlp, h, c.intermediate_size);
    }
  }
  b.RmsNorm(m + "norm", h);
  b.AddClass(c.prefix + "lm_head.weight", {c.vocab_size, h}, TensorClass::kLmHead);
}

}  // namespace

const char* TensorClassName(TensorClass cls) {
  switch (cls) {
    case TensorClass::kLlmLinear: return "llm linear";
    case TensorClass::kExpert: return "expert";
    case TensorClass::kEmbedding: return "embedding";
    case TensorClass::kLmHead: return "lm_head";
    case TensorClass::kRouterGate: return "router gate";
    case TensorClass::kMlaKvB: return "MLA kv_b_proj";
    case TensorClass::kNorm: return "norm";
    case TensorClass::kBias: return "bias";
    case TensorClass::kVisionLinear: return "vision linear";
    case TensorClass::kVisionConv: return "vision conv";
    case TensorClass::kProjectorLinear: return "projector linear";
    case TensorClass::kOther: return "other";
  }
  return "?";
}

const char* TensorGroupName(TensorGroup group) {
  switch (group) {
    case TensorGroup::kLanguage:
      return "language";
    case TensorGroup::kVision:
      return "vision";
    case TensorGroup::kProjector:
      return "projector";
  }
  return "?";
}

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config) {
  std::vector<ExpectedTensor> out;
  if (config.sam) AddSam(*config.sam, out);
  if (config.siglip) AddSiglip(*config.siglip, out);
  if (config.family == ModelFamily::kDeepSeekVL && config.sam && config.siglip) {
    // HybridVisionTower builds LayerNorm(output_dim) for each branch and never applies them
    // (docs/model-facts.md, 'VL1 hybrid tower'); the released configs set output_dim to the
    // branch's output width.
    ManifestBuilder unused(out, TensorGroup::kVision, /*used=*/false);
    unused.LayerNorm("vision_model.high_layer_norm", config.sam->downsample_channels[1]);
    unused.LayerNorm("vision_model.low_layer_norm", config.siglip->width);
  }
  // A DeepSeek-VL config without vision_config builds no aligner either.
  if (config.siglip) AddProjector(config, out);
  AddLanguageModel(config.llm, out);
  return out;
}

ParameterCounts CountParameters(const ModelConfig& config,
                                const std::vector<ExpectedTensor>& manifest) {
  ParameterCounts c;
  for (const ExpectedTensor& t : manifest) {
    const int64_t n = t.shape.numel();
    c.total += n;
    switch (t.group) {
      case TensorGroup::kLanguage:
        c.language += n;
        break;
      case TensorGroup::kVision:
        c.vision += n;
        break;
      case TensorGroup::kProjector:
        c.projector += n;
        break;
    }
    if (!t.used) c.unused += n;
    if (t.routed_expert) c.routed_experts += n;
  }
  c.active = c.total;
  const MoeConfig& moe = config.llm.moe;
  if (moe.n_routed_experts > 0 && c.routed_experts > 0) {
    // All experts of a layer have the same size, so the skipped share is exact.
    const int64_t k = std::min(moe.experts_per_token, moe.n_routed_experts);
    c.active = c.total - c.routed_experts / moe.n_routed_experts * (moe.n_routed_experts - k);
  }
  return c;
}

}  // namespace dsvl
