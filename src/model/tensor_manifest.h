// The tensor manifest: every tensor name and shape the official checkpoint has for a ModelConfig,
// in module order, including the ones the official forward (and dsvl) never read (SigLIP attn_pool,
// DeepSeek-VL's high/low_layer_norm). `dsvl inspect` checks a checkpoint against it, `dsvl
// make-model` writes it, and parameter counts are sums over it, so all three agree by construction.
// Ground truth: docs/model-facts.md, 'Checkpoint tensor names', and the fixture checkpoints
// (tests/model/manifest_test.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/model_config.h"

namespace dsvl {

// How make-model fills a tensor with random values: weights small (std 0.02), norm scales 1, biases
// 0.
enum class TensorInit { kNormal, kOnes, kZeros };

// The top-level module a tensor belongs to (for parameter breakdowns).
enum class TensorGroup { kLanguage, kVision, kProjector };

// What a tensor is, for the quantisation policy (model/quant_policy.h): which tensors take the
// requested block type, which keep theirs, and which the engine can read in a quantised type at all.
enum class TensorClass {
  kLlmLinear,        // attention projections and dense MLP matrices of the language model
  kExpert,           // MoE expert matrices, routed and shared
  kEmbedding,        // embed_tokens
  kLmHead,
  kRouterGate,       // MoE gate weight and its e_score_correction_bias
  kMlaKvB,           // MLA kv_b_proj (its k part is re-laid out element-wise, attention_mla.cpp)
  kNorm,             // RMSNorm / LayerNorm scales and shifts
  kBias,             // Linear biases
  kVisionLinear,     // Linear layers of the vision towers
  kVisionConv,       // convolution kernels (patch embeddings, SAM neck and downsamples)
  kProjectorLinear,  // Linear layers of the projector / aligner
  kOther,            // position tables, learned vectors, scalars
};
const char* TensorClassName(TensorClass cls);

struct ExpectedTensor {
  std::string name;
  Shape shape;
  bool used = true;  // false: present in the official checkpoint, never read in forward
  TensorInit init = TensorInit::kNormal;
  TensorGroup group = TensorGroup::kLanguage;
  bool routed_expert = false;  // one routed MoE expert's weight (not active for every token)
  TensorClass cls = TensorClass::kOther;
};

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

struct ParameterCounts {
  int64_t total = 0;
  int64_t language = 0;
  int64_t vision = 0;
  int64_t projector = 0;       // projector / aligner plus VL2's image_newline and view_seperator
  int64_t unused = 0;          // in the checkpoint but never read (attn_pool, high/low_layer_norm)
  int64_t routed_experts = 0;  // all routed experts of all MoE layers
  // Parameters one token passes through: everything except the routed experts it is not sent to,
  // i.e. total - routed_experts * (1 - experts_per_token / n_routed_experts). Equal to total for a
  // dense model.
  int64_t active = 0;
};

ParameterCounts CountParameters(const ModelConfig& config,
                                const std::vector<ExpectedTensor>& manifest);
inline ParameterCounts CountParameters(const ModelConfig& config) {
  return CountParameters(config, ExpectedTensors(config));
}

const char* TensorGroupName(TensorGroup group);

}  // namespace dsvl
