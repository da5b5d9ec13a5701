#include "model/cost_model.h"

#include <string>

#include "io/safetensors.h"
#include "vision/preprocess_vl2.h"

namespace dsvl {
namespace {

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

double LinearFlops(int64_t tokens, int64_t in, int64_t out) {
  return 2.0 * static_cast<double>(tokens) * static_cast<double>(in) * static_cast<double>(out);
}

double AttentionFlops(int64_t tokens, int64_t width) {  // Q·Kᵀ and P·V over all heads
  return 4.0 * static_cast<double>(tokens) * static_cast<double>(tokens) * static_cast<double>(width);
}

double BlockLinearFlops(int64_t T, int64_t D, int64_t M) {  // qkv + proj (4·D²) and the MLP (2·D·M)
  return LinearFlops(T, D, 4 * D) + LinearFlops(T, D, 2 * M);
}

// Multiply-adds of the projector's weight matrices, once per token it maps.
double ProjectorFlopsPerToken(const ProjectorConfig& p, const WeightStore& weights) {
  double macs = 0;
  for (const auto& [name, info] : weights.tensors())
    if (StartsWith(name, p.prefix) && info.view.shape.rank == 2) macs += static_cast<double>(info.view.shape.numel());
  return 2.0 * macs;
}

}  // namespace

DecodeWeightBytes CountDecodeWeightBytes(const LlmConfig& config, const WeightStore& weights) {
  DecodeWeightBytes b;
  const std::string layers = config.prefix + "model.layers.", embed = config.prefix + "model.embed_tokens.weight";
  int64_t routed = 0;
  for (const auto& [name, info] : weights.tensors()) {
    const int64_t bytes = static_cast<int64_t>(info.view.nbytes());
    if (name == embed) {
      b.embedding_row = config.vocab_size > 0 ? bytes / config.vocab_size : 0;
    } else if (StartsWith(name, layers)) {
      if (name.find(".mlp.experts.") != std::string::npos) routed += bytes;
      else b.dense += bytes;
    } else if (StartsWith(name, config.prefix + "model.norm.") || StartsWith(name, config.prefix + "lm_head.")) {
      b.dense += bytes;
    }
  }
  if (config.moe.n_routed_experts > 0)
    b.routed_active = routed * config.moe.experts_per_token / config.moe.n_routed_experts;
  return b;
}

int64_t KvBytesRead(const LlmConfig& config, int64_t tokens, DType kv_dtype) {
  return static_cast<int64_t>(DTypeBytes(kv_dtype, config.num_layers * tokens * config.KvValuesPerToken()));
}

double VitTowerFlops(const VitConfig& c) {
  const int64_t T = c.num_patches(), D = c.width;
  double f = LinearFlops(T, 3 * c.patch_size * c.patch_size, D);
  f += static_cast<double>(c.layers) * (BlockLinearFlops(T, D, c.mlp_hidden) + AttentionFlops(T, D));
  return f;
}

double SamTowerFlops(const SamConfig& c) {
  const int64_t G = c.image_size / c.patch_size, T = G * G, D = c.width, Cn = c.neck_channels;
  const int64_t S = c.window_size, wins = ((G + S - 1) / S) * ((G + S - 1) / S);
  double f = LinearFlops(T, 3 * c.patch_size * c.patch_size, D);
  for (int64_t l = 0; l < c.depth; ++l) {
    bool global = false;
    for (int64_t g : c.global_attn_indexes) global = global || g == l;
    f += BlockLinearFlops(T, D, c.mlp_hidden);
    f += global ? AttentionFlops(T, D) : static_cast<double>(wins) * AttentionFlops(S * S, D);
  }
  f += 2.0 * (LinearFlops(T, D, Cn) + LinearFlops(T, 9 * Cn, Cn));  // neck and neck_hd
  f += LinearFlops(48 * 48, 9 * Cn, c.downsample_channels[0]);      // 96² -> 48², stride 2
  f += LinearFlops(24 * 24, 9 * c.downsample_channels[0], c.downsample_channels[1]);
  return f;
}

double ImageFlops(const ModelConfig& config, const WeightStore& weights, int64_t width, int64_t height,
                  int64_t* views_out) {
  int64_t views = 1;
  double f = 0;
  if (config.family == ModelFamily::kDeepSeekVL2) {
    const Vl2ProcessorConfig& p = config.vl2_processor;
    const int64_t s = p.image_size();
    const auto best = SelectBestResolution(width, height, p.candidate_resolutions);
    if (s > 0) views = 1 + (best.first / s) * (best.second / s);
    if (config.siglip) {
      const int64_t g = config.siglip->grid(), r = config.projector.downsample_ratio > 0 ? config.projector.downsample_ratio : 1;
      const int64_t merged = ((g + r - 1) / r) * ((g + r - 1) / r);
      f = static_cast<double>(views) *
          (VitTowerFlops(*config.siglip) + static_cast<double>(merged) * ProjectorFlopsPerToken(config.projector, weights));
    }
  } else {
    if (config.siglip) {
      f += VitTowerFlops(*config.siglip);
      f += static_cast<double>(config.siglip->num_patches()) * ProjectorFlopsPerToken(config.projector, weights);
    }
    if (config.sam) f += SamTowerFlops(*config.sam);
  }
  if (views_out) *views_out = views;
  return f;
}

}  // namespace dsvl
