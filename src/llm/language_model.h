// The decoder interface shared by the Llama (DeepSeek-VL) and DeepseekV2 (DeepSeek-VL2) language
// models. Prompt embeddings (text + image rows) go in; hidden states / logits come out; the KV cache
// carries the sequence between calls so prefill can be chunked and decode is one row per step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "llm/llm_config.h"

namespace dsvl {

class WeightStore;

// Per-sequence cache. MHA stores roped K and V per kv head; MLA stores the compressed latent
// (post kv_a_layernorm) and the roped shared k_pe: kv_lora_rank + qk_rope_head_dim values/token/layer.
class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual int64_t size() const = 0;      // tokens already in the cache
  virtual int64_t capacity() const = 0;  // max tokens
  virtual void Clear() = 0;
  // Drops tokens after n (for re-use of a shared prefix).
  virtual void Truncate(int64_t n) = 0;
  // Makes this cache hold `other`'s valid rows (a copy of its sequence so far): n parallel samples
  // of one prompt continue from one prefill. Both must come from the same model's NewCache, with
  // room here for other.size() rows; throws otherwise (the default: caches that cannot copy).
  virtual void CopyFrom(const KvCache& other);
};

struct ForwardRequest {
  const float* embeds = nullptr;  // [n, hidden]
  int64_t n = 0;
  // Outputs (optional): final-normed hidden states [n, hidden] and logits. With all_logits false only
  // the last row's logits [vocab] are produced, which is all that decode and generation need.
  float* hidden_out = nullptr;
  float* logits_out = nullptr;
  bool all_logits = false;
};

// One sequence's share of a batched pass (LanguageModel::ForwardBatch): n rows (a decode step's
// single row, or a prefill chunk) appended to its own cache.
struct SequenceBatchItem {
  KvCache* cache = nullptr;
  const float* embeds = nullptr;  // [n, hidden]
  int64_t n = 0;
  // Optional outputs: logits [vocab] of the last row; final-normed hidden states [n, hidden].
  float* logits_out = nullptr;
  float* hidden_out = nullptr;
};

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual const LlmConfig& config() const = 0;
  virtual std::unique_ptr<KvCache> NewCache(int64_t max_tokens) const = 0;
  // out[i, :] = embed_tokens[ids[i]] (as f32). Throws on an id outside the vocabulary.
  virtual void Embed(const int64_t* ids, int64_t n, float* out) const = 0;
  // Runs the decoder over req.embeds at positions cache.size() ... cache.size()+n-1 and appends them
  // to the cache. Long prompts are split into chunks of at most `chunk` tokens internally.
  virtual void Forward(ThreadPool& pool, KvCache& cache, const ForwardRequest& req) = 0;
  // Advances several sequences in one pass: every item's rows are stacked, so each weight is
  // streamed once for all of them, while attention runs per item against its own cache (positions
  // cache.size() ...). Each item's results are bitwise those of the same item passed alone (every
  // product is computed per item with the item's own row count). Items need distinct caches with
  // room for their rows; nothing is committed to any cache unless the whole pass succeeds. Items
  // are not chunked: the caller bounds n (see prefill_chunk()). The default, for models without a
  // batched path (test doubles), runs the items one after another through Forward.
  virtual void ForwardBatch(ThreadPool& pool, std::span<const SequenceBatchItem> items);
  // Logits for final-normed hidden rows [n, hidden] -> [n, vocab].
  virtual void Logits(ThreadPool& pool, const float* hidden, int64_t n, float* logits) const = 0;
  void set_prefill_chunk(int64_t chunk) { prefill_chunk_ = chunk; }
  int64_t prefill_chunk() const { return prefill_chunk_; }
  // Element type of the caches NewCache makes from now on: kF32, kBF16 or kF16. The default is the
  // model's own precision: f32 for an f32 checkpoint, bf16 otherwise (the official code keeps its
  // cache in the model dtype).
  void set_kv_dtype(DType dtype);
  DType kv_dtype() const { return kv_dtype_; }

 protected:
  int64_t prefill_chunk_ = 512;
  DType kv_dtype_ = DType::kF32;
};

// Builds the decoder described by config over the mmapped weights (no copies).
std::unique_ptr<LanguageModel> CreateLanguageModel(const LlmConfig& config, const WeightStore& weights);

}  // namespace dsvl
