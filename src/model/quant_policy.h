// Which tensors a quantised model stores in which type: the one place that decides, driven by the
// tensor manifest's classes (model/tensor_manifest.h). Used by `--quant` at load, `dsvl quantize`
// and `dsvl make-model --quant`, so all three produce the same types.
//
// Defaults: the language model's attention projections, dense MLPs and experts (routed and shared)
// take the requested type; for a 4-bit request embed_tokens and lm_head take Q8_0; vision towers and
// projectors keep their dtype; norms, biases, the MoE router (gate and correction bias), MLA's
// kv_b_proj, convolutions and position tables always keep theirs. A requested Q4_K falls back to
// Q4_0 for rows that are not a multiple of 256, and any block type to the original dtype for rows
// that are not a multiple of 32.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/tensor_manifest.h"

namespace dsvl {

class WeightStore;

struct QuantOptions {
  std::optional<DType> type;  // Q8_0, Q4_0 or Q4_K; nullopt: no quantisation
  // Per-class overrides: a block type, or a float type (BF16/F16/F32) to keep the class in floats
  // (converted when the checkpoint's dtype differs).
  std::optional<DType> embed, lm_head, vision;
  bool any() const { return type || embed || lm_head || vision; }
};

// "q8_0", "q4_0", "q4_k" (any case); with allow_float also "bf16", "f16", "f32". Throws
// kInvalidArgument naming `field` (e.g. "--quant").
DType ParseQuantType(const std::string& text, const std::string& field, bool allow_float);
// The options from their spellings; empty strings mean "not given".
QuantOptions MakeQuantOptions(const std::string& type, const std::string& embed = "",
                              const std::string& lm_head = "", const std::string& vision = "");

// The dtype tensor `t` gets, given its checkpoint dtype `source`. Throws kInvalidArgument when the
// tensor is already block-quantised and the options address its class (quantise from the float
// checkpoint instead).
DType PlannedDType(const ExpectedTensor& t, DType source, const QuantOptions& options);

// Refuses (kUnsupported, naming the tensor) a checkpoint holding a block-quantised tensor that dsvl
// reads only as F32/BF16/F16: every class except the Linear-like ones (llm linear, expert,
// embedding, lm_head, router gate, MLA kv_b_proj, vision linear, projector linear).
void CheckQuantizedTensorsReadable(const std::vector<ExpectedTensor>& manifest, const WeightStore& weights);

}  // namespace dsvl
