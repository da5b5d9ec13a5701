#include "llm/decoder.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "llm/attention_mha.h"
#include "llm/attention_mla.h"
#include "llm/dense_mlp.h"
#include "llm/kv_cache.h"
#include "llm/moe.h"

namespace dsvl {
namespace {

void Require(bool ok, const char* field, const std::string& expected, int64_t actual) {
  if (!ok) Throw(ErrorCode::kCorruptData, ErrorContext{"language model config", field, expected, std::to_string(actual), ""});
}

}  // namespace

LlmConfig ValidatedDecoderConfig(LlmConfig c) {
  Require(c.vocab_size > 0, "vocab_size", "> 0", c.vocab_size);
  Require(c.hidden_size > 0, "hidden_size", "> 0", c.hidden_size);
  Require(c.num_layers > 0, "num_hidden_layers", "> 0", c.num_layers);
  Require(c.num_heads > 0, "num_attention_heads", "> 0", c.num_heads);
  if (c.attention == AttentionKind::kMha) {
    if (c.num_kv_heads <= 0) c.num_kv_heads = c.num_heads;
    if (c.head_dim <= 0) c.head_dim = c.hidden_size / c.num_heads;  // Llama: hidden // heads
    Require(c.num_heads % c.num_kv_heads == 0, "num_key_value_heads", "a divisor of num_attention_heads", c.num_kv_heads);
    Require(c.head_dim > 0 && c.head_dim % 2 == 0, "head_dim", "even and > 0", c.head_dim);
  } else {
    Require(c.mla.kv_lora_rank > 0, "kv_lora_rank", "> 0", c.mla.kv_lora_rank);
    Require(c.mla.qk_nope_head_dim > 0, "qk_nope_head_dim", "> 0", c.mla.qk_nope_head_dim);
    Require(c.mla.qk_rope_head_dim > 0 && c.mla.qk_rope_head_dim % 2 == 0, "qk_rope_head_dim", "even and > 0",
            c.mla.qk_rope_head_dim);
    Require(c.mla.v_head_dim > 0, "v_head_dim", "> 0", c.mla.v_head_dim);
    Require(c.mla.q_lora_rank >= 0, "q_lora_rank", ">= 0", c.mla.q_lora_rank);
  }
  if (c.moe.n_routed_experts > 0) {
    Require(c.moe.moe_intermediate_size > 0, "moe_intermediate_size", "> 0", c.moe.moe_intermediate_size);
    Require(c.moe.moe_layer_freq > 0, "moe_layer_freq", "> 0", c.moe.moe_layer_freq);
  }
  return c;
}

Decoder::Decoder(const LlmConfig& config, const WeightStore& weights) : config_(ValidatedDecoderConfig(config)) {
  const LlmConfig& c = config_;
  const std::string& p = c.prefix;
  const bool mla = c.attention == AttentionKind::kMla;
  cache_width_ = mla ? MlaAttention::CacheWidth(c) : MhaAttention::CacheWidth(c);
  rope_dim_ = mla ? c.mla.qk_rope_head_dim : c.head_dim;

  embed_tokens_ = weights.Get(p + "model.embed_tokens.weight", Shape{c.vocab_size, c.hidden_size});
  final_norm_ = weights.Get(p + "model.norm.weight", Shape{c.hidden_size});
  lm_head_ = weights.Get(p + "lm_head.weight", Shape{c.vocab_size, c.hidden_size});
  // A bf16 checkpoint runs in bf16 officially: RoPE cos/sin are rounded to bf16 there (computed in
  // fp32 from fp32 positions, then .to(x.dtype)), and the noaux_tc bias is a bf16 parameter. We
  // round those two; the rest stays f32 over the bf16 weights. (Rounding cos/sin brings the bf16
  // fixtures slightly closer, e.g. v1 prompt logits 3.8e-3 -> 3.7e-3 of the range.)
  // (Asked of the final norm: a quantised checkpoint keeps its norms in the original dtype, while
  // embed_tokens may be block-quantised.)
  const bool bf16 = final_norm_.dtype == DType::kBF16;
  round_rope_to_bf16_ = bf16;
  kv_dtype_ = embed_tokens_.dtype == DType::kF32 ? DType::kF32 : DType::kBF16;

  layers_.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    Layer& layer = layers_[static_cast<size_t>(l)];
    const std::string lp = p + "model.layers." + std::to_string(l) + ".";
    layer.input_norm = weights.Get(lp + "input_layernorm.weight", Shape{c.hidden_size});
    layer.post_attention_norm = weights.Get(lp + "post_attention_layernorm.weight", Shape{c.hidden_size});
    if (mla)
      layer.attention = std::make_unique<MlaAttention>(c, weights, lp + "self_attn.");
    else
      layer.attention = std::make_unique<MhaAttention>(c, weights, lp + "self_attn.");
    if (c.moe.IsMoeLayer(l))
      layer.ffn = std::make_unique<MoeBlock>(c, weights, lp + "mlp.", bf16);
    else
      layer.ffn = std::make_unique<DenseFeedForward>(DenseMlp(weights, lp + "mlp.", c.hidden_size, c.intermediate_size));
  }
}

std::unique_ptr<KvCache> Decoder::NewCache(int64_t max_tokens) const {
  return std::make_unique<DecoderKvCache>(config_.num_layers, cache_width_, max_tokens, kv_dtype_);
}

void Decoder::Embed(const int64_t* ids, int64_t n, float* out) const {
  const int64_t H = config_.hidden_size;
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= config_.vocab_size) {
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{"token id at " + std::to_string(i), "id", "in [0, " + std::to_string(config_.vocab_size) + ")",
                         std::to_string(ids[i]), ""});
    }
    kernels::ToF32(embed_tokens_, ids[i] * H, H, out + i * H);
  }
}

void Decoder::Logits(ThreadPool& pool, const float* hidden, int64_t n, float* logits) const {
  kernels::Linear(pool, hidden, n, config_.hidden_size, lm_head_, nullptr, logits);
}

DecoderKvCache& Decoder::CheckCache(KvCache& cache, int64_t n) const {
  auto* c = dynamic_cast<DecoderKvCache*>(&cache);
  if (!c || c->num_layers() != config_.num_layers || c->width() != cache_width_) {
    Throw(ErrorCode::kInvalidArgument, "KV cache was not made by this model's NewCache");
  }
  if (c->size() + n > c->capacity()) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{"KV cache", "tokens", "<= " + std::to_string(c->capacity()) + " (capacity)",
                       std::to_string(c->size()) + " cached + " + std::to_string(n) + " new", ""});
  }
  return *c;
}

void Decoder::Forward(ThreadPool& pool, KvCache& cache, const ForwardRequest& req) {
  if (req.n < 0 || (req.n > 0 && !req.embeds)) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"ForwardRequest", "n / embeds", "n >= 0 with embeds", std::to_string(req.n), ""});
  }
  if (req.n == 0) return;
  DecoderKvCache& c = CheckCache(cache, req.n);
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  const int64_t chunk = prefill_chunk_ > 0 ? prefill_chunk_ : req.n;
  for (int64_t c0 = 0; c0 < req.n; c0 += chunk) {
    const int64_t T = std::min(chunk, req.n - c0);
    seqs_.assign(1, RowRange{0, T});
    batch_caches_.assign(1, &c);
    const float* embeds = req.embeds + c0 * H;
    RunBatch(pool, &embeds);
    const float* normed = ws_.F32(Workspace::kNormed, T * H);
    if (req.hidden_out) std::memcpy(req.hidden_out + c0 * H, normed, static_cast<size_t>(T * H) * sizeof(float));
    if (req.logits_out) {
      if (req.all_logits)
        Logits(pool, normed, T, req.logits_out + c0 * V);
      else if (c0 + T == req.n)
        Logits(pool, normed + (T - 1) * H, 1, req.logits_out);
    }
  }
}

void Decoder::ForwardBatch(ThreadPool& pool, std::span<const SequenceBatchItem> items) {
  // Everything is checked before any cache row is written (names are built only to throw: this
  // runs every decode step).
  auto what = [](size_t i) { return "SequenceBatchItem " + std::to_string(i); };
  for (size_t i = 0; i < items.size(); ++i) {
    const SequenceBatchItem& it = items[i];
    if (!it.cache) Throw(ErrorCode::kInvalidArgument, ErrorContext{what(i), "cache", "a KV cache", "null", ""});
    if (it.n <= 0 || !it.embeds)
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{what(i), "n / embeds", "n >= 1 with embeds", std::to_string(it.n), ""});
    CheckCache(*it.cache, it.n);
    for (size_t j = 0; j < i; ++j)
      if (items[j].cache == it.cache)
        Throw(ErrorCode::kInvalidArgument, ErrorContext{what(i), "cache", "a cache no other item of the batch uses",
                                                        "same as item " + std::to_string(j), ""});
  }
  if (items.empty()) return;
  const int64_t H = config_.hidden_size;
  seqs_.clear();
  batch_caches_.clear();
  batch_embeds_.clear();
  int64_t T = 0;
  for (const SequenceBatchItem& it : items) {
    seqs_.push_back(RowRange{T, it.n});
    batch_caches_.push_back(static_cast<DecoderKvCache*>(it.cache));  // type checked by CheckCache
    batch_embeds_.push_back(it.embeds);
    T += it.n;
  }
  RunBatch(pool, batch_embeds_.data());

  const float* normed = ws_.F32(Workspace::kNormed, T * H);
  LinearBatch& batch = ws_.linears();
  for (size_t i = 0; i < items.size(); ++i) {
    const SequenceBatchItem& it = items[i];
    const float* rows = normed + seqs_[i].begin * H;
    if (it.hidden_out) std::memcpy(it.hidden_out, rows, static_cast<size_t>(it.n * H) * sizeof(float));
    // One M=1 call per item, as Logits(.., 1, ..) computes it alone; lm_head streamed once for all.
    if (it.logits_out) batch.Add(rows + (it.n - 1) * H, 1, H, lm_head_, it.logits_out);
  }
  batch.Run(pool);
}

void Decoder::RunBatch(ThreadPool& pool, const float* const* embeds) {
  const LlmConfig& c = config_;
  const int64_t H = c.hidden_size, half = rope_dim_ / 2, T = TotalRows(seqs_);
  const size_t K = seqs_.size();
  float* h = ws_.F32(Workspace::kHidden, T * H);
  float* xn = ws_.F32(Workspace::kNormed, T * H);
  float* block_out = ws_.F32(Workspace::kBlockOut, T * H);
  float* cos = ws_.F32(Workspace::kRopeCos, T * half);
  float* sin = ws_.F32(Workspace::kRopeSin, T * half);

  // Each row's own position in its own sequence.
  if (positions_.size() < static_cast<size_t>(T)) positions_.resize(static_cast<size_t>(T));
  seq_caches_.resize(K);
  for (size_t i = 0; i < K; ++i) {
    const RowRange& r = seqs_[i];
    std::memcpy(h + r.begin * H, embeds[i], static_cast<size_t>(r.count * H) * sizeof(float));
    const int64_t pos0 = batch_caches_[i]->size();
    seq_caches_[i].pos0 = pos0;
    for (int64_t j = 0; j < r.count; ++j) positions_[static_cast<size_t>(r.begin + j)] = pos0 + j;
  }
  kernels::FillRopeTable(positions_.data(), T, rope_dim_, c.rope_theta, cos, sin);
  if (round_rope_to_bf16_) {
    for (int64_t i = 0; i < T * half; ++i) {
      cos[i] = RoundToBf16(cos[i]);
      sin[i] = RoundToBf16(sin[i]);
    }
  }
  const RopeRows rope{cos, sin};

  for (int64_t l = 0; l < c.num_layers; ++l) {
    const Layer& layer = layers_[static_cast<size_t>(l)];
    for (size_t i = 0; i < K; ++i) seq_caches_[i].layer = batch_caches_[i]->layer(l);
    kernels::RmsNorm(pool, h, T, H, layer.input_norm, c.rms_norm_eps, xn);
    layer.attention->ForwardBatch(pool, xn, seqs_, seq_caches_, rope, block_out, ws_);
    kernels::Add(pool, h, block_out, T * H);
    kernels::RmsNorm(pool, h, T, H, layer.post_attention_norm, c.rms_norm_eps, xn);
    layer.ffn->ForwardBatch(pool, xn, seqs_, block_out, ws_);
    kernels::Add(pool, h, block_out, T * H);
  }
  // Only now, after every layer wrote them, do the new rows become part of each cache.
  for (size_t i = 0; i < K; ++i) batch_caches_[i]->Commit(seq_caches_[i].pos0 + seqs_[i].count);
  kernels::RmsNorm(pool, h, T, H, final_norm_, c.rms_norm_eps, xn);
}

}  // namespace dsvl
