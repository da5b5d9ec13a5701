// The decoder shared by Llama (DeepSeek-VL) and DeepseekV2 (DeepSeek-VL2): pre-norm layers
//   h += attn(input_layernorm(h));  h += ffn(post_attention_layernorm(h))
// then the final norm and an untied lm_head. Attention is MHA or MLA and each layer's feed-forward
// is dense or MoE as the config says. Prompts longer than prefill_chunk() run in chunks; every
// chunk appends its tokens to the cache, so chunked and single prefill compute the same thing.
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.h"
#include "llm/blocks.h"
#include "llm/language_model.h"

namespace dsvl {

class DecoderKvCache;

// The config with its derived values filled in (num_kv_heads, head_dim), or a kCorruptData error naming
// the field the decoder cannot run with. The training decoder checks the same.
LlmConfig ValidatedDecoderConfig(LlmConfig c);

class Decoder final : public LanguageModel {
 public:
  Decoder(const LlmConfig& config, const WeightStore& weights);

  const LlmConfig& config() const override { return config_; }
  std::unique_ptr<KvCache> NewCache(int64_t max_tokens) const override;
  void Embed(const int64_t* ids, int64_t n, float* out) const override;
  // Not reentrant: the scratch lives in the model (one Forward at a time per model).
  void Forward(ThreadPool& pool, KvCache& cache, const ForwardRequest& req) override;
  void ForwardBatch(ThreadPool& pool, std::span<const SequenceBatchItem> items) override;
  void Logits(ThreadPool& pool, const float* hidden, int64_t n, float* logits) const override;

 private:
  struct Layer {
    TensorView input_norm, post_attention_norm;
    std::unique_ptr<AttentionBlock> attention;
    std::unique_ptr<FeedForwardBlock> ffn;
  };
  DecoderKvCache& CheckCache(KvCache& cache, int64_t n) const;
  // Runs the layers over the sequences in seqs_ / batch_caches_ (stacked rows, inputs embeds[i]),
  // commits their cache rows and leaves the final-normed rows in Workspace::kNormed.
  void RunBatch(ThreadPool& pool, const float* const* embeds);

  LlmConfig config_;
  int64_t cache_width_ = 0;
  int64_t rope_dim_ = 0;         // head_dim (MHA) or qk_rope_head_dim (MLA)
  bool round_rope_to_bf16_ = false;
  TensorView embed_tokens_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  Workspace ws_;
  // Per-pass tables, reused (they only grow): each row's position, each sequence's rows, cache
  // and layer block, and input pointer.
  std::vector<int64_t> positions_;
  std::vector<RowRange> seqs_;
  std::vector<DecoderKvCache*> batch_caches_;
  std::vector<SeqCache> seq_caches_;
  std::vector<const float*> batch_embeds_;
};

}  // namespace dsvl
