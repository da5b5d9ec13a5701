#include "llm/language_model.h"

#include "dsvl/error.h"
#include "llm/decoder.h"

namespace dsvl {

std::unique_ptr<LanguageModel> CreateLanguageModel(const LlmConfig& config, const WeightStore& weights) {
  return std::make_unique<Decoder>(config, weights);
}

void KvCache::CopyFrom(const KvCache&) {
  Throw(ErrorCode::kUnsupported, "KV cache: this cache cannot copy another's rows");
}

void LanguageModel::ForwardBatch(ThreadPool& pool, std::span<const SequenceBatchItem> items) {
  for (const SequenceBatchItem& it : items) {
    if (!it.cache) Throw(ErrorCode::kInvalidArgument, "SequenceBatchItem without a cache");
    ForwardRequest req;
    req.embeds = it.embeds;
    req.n = it.n;
    req.hidden_out = it.hidden_out;
    req.logits_out = it.logits_out;
    Forward(pool, *it.cache, req);
  }
}

void LanguageModel::set_kv_dtype(DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"KV cache", "dtype", "f32, bf16 or f16", DTypeName(dtype), ""});
  }
  kv_dtype_ = dtype;
}

}  // namespace dsvl
