#include "model/quant_policy.h"

#include <algorithm>
#include <cctype>

#include "dsvl/error.h"
#include "io/safetensors.h"

namespace dsvl {
namespace {

bool IsFloat(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

// The class's requested type before the row-length fallbacks; nullopt: keep the checkpoint's.
std::optional<DType> Requested(TensorClass cls, const QuantOptions& o) {
  const bool four_bit = o.type && (*o.type == DType::kQ4_0 || *o.type == DType::kQ4_K);
  switch (cls) {
    case TensorClass::kLlmLinear:
    case TensorClass::kExpert:
      return o.type;
    case TensorClass::kEmbedding:
      // Embedding rows are read one per token and lm_head decides every token: 8 bits under a
      // 4-bit request (they are a small share of a large model's bytes).
      if (o.embed) return o.embed;
      return four_bit ? std::optional<DType>(DType::kQ8_0) : o.type;
    case TensorClass::kLmHead:
      if (o.lm_head) return o.lm_head;
      return four_bit ? std::optional<DType>(DType::kQ8_0) : o.type;
    case TensorClass::kVisionLinear:
    case TensorClass::kProjectorLinear:
      return o.vision;
    default:
      return std::nullopt;
  }
}

}  // namespace

DType ParseQuantType(const std::string& text, const std::string& field, bool allow_float) {
  std::string s = text;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "q8_0") return DType::kQ8_0;
  if (s == "q4_0") return DType::kQ4_0;
  if (s == "q4_k") return DType::kQ4_K;
  if (allow_float) {
    if (s == "bf16") return DType::kBF16;
    if (s == "f16") return DType::kF16;
    if (s == "f32") return DType::kF32;
  }
  Throw(ErrorCode::kInvalidArgument,
        ErrorContext{"quantisation", field, allow_float ? "q8_0, q4_0, q4_k, bf16, f16 or f32" : "q8_0, q4_0 or q4_k",
                     text, ""});
}

QuantOptions MakeQuantOptions(const std::string& type, const std::string& embed, const std::string& lm_head,
                              const std::string& vision) {
  QuantOptions o;
  if (!type.empty()) o.type = ParseQuantType(type, "--quant", false);
  if (!embed.empty()) o.embed = ParseQuantType(embed, "--quant-embed", true);
  if (!lm_head.empty()) o.lm_head = ParseQuantType(lm_head, "--quant-lm-head", true);
  if (!vision.empty()) o.vision = ParseQuantType(vision, "--quant-vision", true);
  return o;
}

DType PlannedDType(const ExpectedTensor& t, DType source, const QuantOptions& o) {
  const std::optional<DType> want = Requested(t.cls, o);
  if (!want) return source;
  // Even to the same type: a request to quantise a quantised checkpoint is a mistake worth saying.
  if (IsQuantized(source)) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"quantisation", "tensor '" + t.name + "'", "a BF16, F16 or F32 tensor to convert",
                       std::string("already ") + DTypeName(source),
                       "quantise from the original floating-point checkpoint"});
  }
  if (*want == source || !IsFloat(source)) return source;
  if (IsFloat(*want)) return *want;
  // Block types: a matrix whose rows are whole blocks; Q4_K's 256 falls back to Q4_0's 32.
  if (t.shape.rank != 2) return source;
  const int64_t cols = t.shape[1];
  DType q = *want;
  if (q == DType::kQ4_K && cols % 256 != 0) q = DType::kQ4_0;
  if (cols % GetDTypeInfo(q).block_elems != 0) return source;
  return q;
}

void CheckQuantizedTensorsReadable(const std::vector<ExpectedTensor>& manifest, const WeightStore& weights) {
  for (const ExpectedTensor& t : manifest) {
    const WeightInfo* w = weights.Find(t.name);
    if (!w || !IsQuantized(w->view.dtype)) continue;
    switch (t.cls) {
      case TensorClass::kLlmLinear:
      case TensorClass::kExpert:
      case TensorClass::kEmbedding:
      case TensorClass::kLmHead:
      case TensorClass::kRouterGate:
      case TensorClass::kMlaKvB:
      case TensorClass::kVisionLinear:
      case TensorClass::kProjectorLinear:
        if (t.cls != TensorClass::kRouterGate || w->view.rank() == 2) continue;
        break;
      default:
        break;
    }
    Throw(ErrorCode::kUnsupported,
          ErrorContext{w->file, "tensor '" + t.name + "' dtype", "F32, BF16 or F16 for a " +
                           std::string(TensorClassName(t.cls)) + " tensor",
                       DTypeName(w->view.dtype), "dsvl reads block-quantised types only in matrix products"});
  }
}

}  // namespace dsvl
