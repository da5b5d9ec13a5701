// The sane range of every size dsvl reads from a checkpoint's config files (config.json,
// processor_config.json / preprocessor_config.json, tiny_arch.json). Each value is checked against
// its range when it is read, before anything is allocated or looped over, so a hostile or corrupt
// config is refused at once instead of making `dsvl inspect` build a manifest of billions of tensors
// or `dsvl run` allocate terabytes. The ranges are far above every released DeepSeek-VL / VL2 model
// (the largest value of each is noted) and admit larger DeepSeek-V2/V3-style language models too;
// docs/limits.md lists them for users. Raising one is a one-line change here.
//
// Below the minimum is a malformed config (ErrorCode::kCorruptData); above the maximum is a dsvl
// limit (ErrorCode::kLimitExceeded). Both messages name the file, the key, the range and the value.
#pragma once

#include <cstdint>

namespace dsvl {

struct IntRange {
  int64_t min;
  int64_t max;
};

namespace config_limits {

// --- language_config --------------------------------------------------------------------------
// Largest released: 129,280 (VL2). 2^21 also admits 256k-vocabulary tokenizers with room to spare;
// the embedding table and logits row scale with it.
inline constexpr IntRange kVocabSize{1, int64_t{1} << 21};
// Largest released: 4096 (VL1 7B). Every activation row and weight matrix scales with it.
inline constexpr IntRange kHiddenSize{1, 65536};
// Largest released: 12,288 (VL2 dense layer). Dense SwiGLU inner width.
inline constexpr IntRange kIntermediateSize{1, 262144};
// Largest released: 30. Each layer adds tensors to the manifest and a KV-cache block.
inline constexpr IntRange kNumLayers{1, 1024};
// Largest released: 32 attention heads (and as many KV heads).
inline constexpr IntRange kNumHeads{1, 1024};
// Largest released: 16,384 (VL1). RoPE tables and the default KV cache are sized from it.
inline constexpr IntRange kMaxPositions{1, int64_t{1} << 20};
// MLA ranks and head widths. Largest released: kv_lora_rank 512, q_lora_rank unused (null),
// qk_nope/v 128, qk_rope 64.
inline constexpr IntRange kLoraRank{1, 65536};
inline constexpr IntRange kHeadDim{1, 4096};
// MoE. Largest released: 72 routed experts, 6 per token, 2 shared, moe_intermediate_size 1536.
// DeepSeek-V3 has 256 routed experts; 4096 leaves room while keeping the expert loops short.
inline constexpr IntRange kRoutedExperts{0, 4096};
inline constexpr IntRange kExpertsPerToken{1, 256};
inline constexpr IntRange kSharedExperts{0, 64};
inline constexpr IntRange kMoeIntermediateSize{1, 65536};
// layers x routed experts: each routed expert adds 3 tensors to the manifest. Largest released:
// 30 x 72 = 2160 (V3: 61 x 256 = 15,616). 2^18 keeps the manifest under a million tensors, the
// safetensors loader's own cap on tensors per file.
inline constexpr int64_t kMaxLayerExperts = int64_t{1} << 18;
// Weights of the whole language model as the config states them (an estimate from the widths,
// computed in floating point so it cannot overflow). Largest released: ~27B (VL2 base, all experts);
// 2^41 (~2.2 trillion) admits every open model of today.
inline constexpr double kMaxLanguageParameters = 2199023255552.0;  // 2^41
// RoPE base and norm epsilon: finite, positive, and not absurd (released: 10000 and 1e-6).
inline constexpr double kMaxRopeTheta = 1e12;
inline constexpr double kMaxRmsNormEps = 1.0;
inline constexpr double kMaxRoutedScalingFactor = 1000.0;

// --- vision towers (vision_config, tiny_arch.json) -------------------------------------------
// Largest released: SigLIP-SO400M width 1152 (27 layers, 16 heads), SAM-B width 768 (12 layers).
inline constexpr IntRange kVisionWidth{1, 16384};
inline constexpr IntRange kVisionLayers{1, 1024};
inline constexpr IntRange kVisionHeads{1, 1024};
// select_layer: a block index from either end of the tower.
inline constexpr IntRange kSelectLayer{-1024, 1024};
// mlp_ratio: SigLIP-SO400M 3.7362, others 4.
inline constexpr double kMaxMlpRatio = 64.0;
// Tower input side in pixels: 384 (SigLIP), 1024 (SAM).
inline constexpr IntRange kVisionImageSize{1, 8192};
// Patch side in pixels: 14 or 16.
inline constexpr IntRange kPatchSize{1, 1024};
// Patches per side (image_size / patch_size): 27 (SO400M), 24 (SigLIP-L), 64 (SAM). Attention is
// quadratic in grid^2 tokens; 256 per side (65,536 tokens) is already far beyond any tower.
inline constexpr int64_t kMaxPatchGrid = 256;
// SAM neck and downsample channels: 256, 512, 1024.
inline constexpr IntRange kSamChannels{1, 65536};

// --- projector / aligner ---------------------------------------------------------------------
inline constexpr IntRange kProjectorWidth{1, 65536};  // input_dim / n_embed: 1152 -> 2560 at most
inline constexpr IntRange kProjectorDepth{1, 64};     // 2
inline constexpr IntRange kProjectorMlpRatio{1, 64};  // 1 or 2
inline constexpr IntRange kDownsampleRatio{1, 16};    // 2 (2x2 token merge)

// --- image processors (processor_config.json, preprocessor_config.json) ----------------------
// VL1 image_size (1024 for the hybrid tower) and min_size (14).
inline constexpr IntRange kProcessorImageSize{1, 8192};
// VL2 candidate_resolutions: 23 entries of at most 1152 x 1152 / 384 x 3456 in the releases.
inline constexpr int64_t kMaxCandidateResolutions = 1024;
inline constexpr int64_t kMaxCandidateSide = 16384;
// Pixels of one candidate resolution (the image is resized to it before tiling): released at most
// 1.33M; 2^24 (16.7M, 4096 x 4096) leaves room for larger tiles.
inline constexpr int64_t kMaxCandidatePixels = int64_t{1} << 24;
// Tiles of one candidate resolution (local views): released at most 9.
inline constexpr int64_t kMaxTilesPerResolution = 64;
// num_image_tokens (VL1): 576.
inline constexpr IntRange kImageTokens{1, 65536};

}  // namespace config_limits
}  // namespace dsvl
