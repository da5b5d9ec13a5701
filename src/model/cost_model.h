// What one decode step and one image encode cost, counted from the config and the weights, for
// `dsvl bench` to turn timings into achieved bandwidth and FLOP rates.
//
// Decode: a step reads every weight of the LLM once — except the routed experts, of which each MoE
// layer reads only the top-k chosen for the token (on average top-k / n_routed of their bytes) — plus
// one embedding row and the whole KV cache up to the current context. The bytes are the tensors'
// stored bytes, so they follow the checkpoint's dtype.
//
// Vision (multiply-adds count 2 FLOPs; norms, softmax, GELU and SAM's relative-position terms are
// left out, a few percent at most):
//   ViT tower pass (SigLIP), T = patches, D = width, M = mlp_hidden, p = patch size:
//     patch embed 2·T·3p²·D, then per layer 2·T·(4·D² + 2·D·M) + attention 4·T²·D
//   SAM-B: the same per layer with windowed attention (4·Tw²·D per 14x14 window over the padded
//     grid) except in global layers (4·T²·D); two necks (1x1 conv D->Cn, 3x3 conv Cn->Cn over the
//     grid); two stride-2 3x3 convs 96² -> 48² (Cn -> c0) and 48² -> 24² (c0 -> c1).
//   Projector: 2·(sum of its weight matrices' elements) per token it maps.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "model/model_config.h"

namespace dsvl {

class WeightStore;

struct DecodeWeightBytes {
  int64_t dense = 0;          // attention, dense MLPs, shared experts, routers, norms, lm_head
  int64_t routed_active = 0;  // top-k of n_routed routed experts per MoE layer (mean per token)
  int64_t embedding_row = 0;  // one row of embed_tokens
  int64_t total() const { return dense + routed_active + embedding_row; }
};

// Weight bytes one decode step reads (the LLM's tensors under config.prefix).
DecodeWeightBytes CountDecodeWeightBytes(const LlmConfig& config, const WeightStore& weights);

// KV-cache bytes one decode step reads at a context of `tokens`: layers x tokens x width x element.
int64_t KvBytesRead(const LlmConfig& config, int64_t tokens, DType kv_dtype);

double VitTowerFlops(const VitConfig& c);
double SamTowerFlops(const SamConfig& c);

// FLOPs to encode one image of width x height pixels: every view / tower of the model (VL2: the
// global view plus the local tiles the processor picks for this size, one or two images per
// conversation) and the projector over their tokens. views_out, if given, receives the tower
// passes (VL1: 1).
double ImageFlops(const ModelConfig& config, const WeightStore& weights, int64_t width, int64_t height,
                  int64_t* views_out = nullptr);

}  // namespace dsvl
