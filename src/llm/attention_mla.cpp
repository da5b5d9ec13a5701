#include "llm/attention_mla.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {
namespace {

// The official q_a_layernorm / kv_a_layernorm are DeepseekV2RMSNorm(dim) with the class default
// eps, not config.rms_norm_eps.
constexpr float kLatentNormEps = 1e-6f;

}  // namespace

MlaAttention::MlaAttention(const LlmConfig& c, const WeightStore& weights, const std::string& prefix)
    : hidden_(c.hidden_size),
      heads_(c.num_heads),
      q_lora_(c.mla.q_lora_rank),
      kv_lora_(c.mla.kv_lora_rank),
      nope_(c.mla.qk_nope_head_dim),
      rope_(c.mla.qk_rope_head_dim),
      v_dim_(c.mla.v_head_dim),
      softmax_scale_(static_cast<float>(std::pow(static_cast<double>(nope_ + rope_), -0.5))) {
  const int64_t qh = heads_ * (nope_ + rope_);
  if (q_lora_ > 0) {
    q_a_proj_ = weights.Get(prefix + "q_a_proj.weight", Shape{q_lora_, hidden_});
    q_a_norm_ = weights.Get(prefix + "q_a_layernorm.weight", Shape{q_lora_});
    q_b_proj_ = weights.Get(prefix + "q_b_proj.weight", Shape{qh, q_lora_});
  } else {
    q_proj_ = weights.Get(prefix + "q_proj.weight", Shape{qh, hidden_});
  }
  const TensorView& kv_a = weights.Get(prefix + "kv_a_proj_with_mqa.weight", Shape{kv_lora_ + rope_, hidden_});
  kv_a_ckv_ = kv_a.Slice0(0, kv_lora_);
  kv_a_kpe_ = kv_a.Slice0(kv_lora_, kv_lora_ + rope_);
  kv_a_norm_ = weights.Get(prefix + "kv_a_layernorm.weight", Shape{kv_lora_});
  kv_b_ = weights.Get(prefix + "kv_b_proj.weight", Shape{heads_ * (nope_ + v_dim_), kv_lora_});
  o_proj_ = weights.Get(prefix + "o_proj.weight", Shape{hidden_, heads_ * v_dim_});
  if (IsQuantized(kv_b_.dtype)) {
    kv_b_f32_ = Tensor::Empty(DType::kF32, kv_b_.shape);
    for (int64_t r = 0; r < kv_b_.rows(); ++r)
      kernels::ToF32(kv_b_, r * kv_lora_, kv_lora_, kv_b_f32_.f32() + r * kv_lora_);
    kv_b_ = kv_b_f32_.view();
  }

  const size_t elem = DTypeBytes(kv_b_.dtype, 1);
  k_absorb_t_ = Tensor::Empty(kv_b_.dtype, Shape{heads_, kv_lora_, nope_});
  const char* src = static_cast<const char*>(kv_b_.data);
  char* dst = static_cast<char*>(k_absorb_t_.view().data);
  for (int64_t h = 0; h < heads_; ++h)
    for (int64_t d = 0; d < nope_; ++d) {
      const char* row = src + static_cast<size_t>((h * (nope_ + v_dim_) + d) * kv_lora_) * elem;
      for (int64_t cidx = 0; cidx < kv_lora_; ++cidx)
        std::memcpy(dst + static_cast<size_t>((h * kv_lora_ + cidx) * nope_ + d) * elem,
                    row + static_cast<size_t>(cidx) * elem, elem);
    }
}

void MlaAttention::ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs,
                                std::span<const SeqCache> caches, const RopeRows& rope, float* out,
                                Workspace& ws) const {
  const int64_t qd = nope_ + rope_, qw = heads_ * qd, T = TotalRows(seqs), half = rope_ / 2;
  const int64_t width = kv_lora_ + rope_;  // cache row and absorbed query head: [latent | rope]
  const int64_t aw = heads_ * width;       // absorbed query row
  int s = Workspace::kBlock;
  float* q = ws.F32(s++, T * qw);
  float* q_abs = ws.F32(s++, T * aw);
  float* ctx = ws.F32(s++, T * heads_ * kv_lora_);
  float* v_out = ws.F32(s++, T * heads_ * v_dim_);
  float* kv_latent = ws.F32(s++, T * kv_lora_);
  float* q_latent = q_lora_ > 0 ? ws.F32(s++, T * q_lora_) : nullptr;
  // f32 staging for the new cache rows of half-precision caches, at each sequence's stacked rows.
  bool staged = false;
  for (const SeqCache& c : caches) staged |= !c.layer.in_place();
  float* staging = staged ? ws.F32(s++, T * width) : nullptr;
  auto rows_of = [&](size_t i) {
    return caches[i].layer.WriteRows(caches[i].pos0, staging ? staging + seqs[i].begin * width : nullptr);
  };

  // Everything that reads xn as one parallel region: the query's first projection, the latent
  // and k_pe (straight into each sequence's new cache rows).
  LinearBatch& batch = ws.linears();
  if (q_lora_ > 0)
    batch.AddRows(xn, seqs, hidden_, q_a_proj_, q_latent);
  else
    batch.AddRows(xn, seqs, hidden_, q_proj_, q);
  batch.AddRows(xn, seqs, hidden_, kv_a_ckv_, kv_latent);
  for (size_t i = 0; i < seqs.size(); ++i)
    batch.Add(xn + seqs[i].begin * hidden_, seqs[i].count, hidden_, kv_a_kpe_, rows_of(i) + kv_lora_, 0, width);
  batch.Run(pool);

  // Query.
  if (q_lora_ > 0) {
    kernels::RmsNorm(pool, q_latent, T, q_lora_, q_a_norm_, kLatentNormEps, q_latent);
    batch.AddRows(q_latent, seqs, q_lora_, q_b_proj_, q);
    batch.Run(pool);
  }
  // Interleaved-pair rotation = the official de-interleave + rotate_half, up to one permutation of
  // the rope dims that q and k share, so q_pe · k_pe is unchanged.
  kernels::ApplyRope(q + nope_, T, heads_, qd, qw, rope_, rope.cos, rope.sin, kernels::RopeStyle::kInterleaved);

  // Each sequence's new cache rows: normed latent, then roped k_pe.
  kernels::RmsNorm(pool, kv_latent, T, kv_lora_, kv_a_norm_, kLatentNormEps, kv_latent);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t b = seqs[i].begin, n = seqs[i].count;
    float* rows = rows_of(i);
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(rows + t * width, kv_latent + (b + t) * kv_lora_, static_cast<size_t>(kv_lora_) * sizeof(float));
    kernels::ApplyRope(rows + kv_lora_, n, 1, rope_, width, rope_, rope.cos + b * half, rope.sin + b * half,
                       kernels::RopeStyle::kInterleaved);
    caches[i].layer.Store(pool, caches[i].pos0, n, rows);
  }

  // Absorbed query per head: [q_nope_h · W_k,h | q_pe_h]; all heads of all sequences as one batch.
  const TensorView wk = k_absorb_t_.view();
  for (int64_t h = 0; h < heads_; ++h) {
    TensorView wk_h = wk.Slice0(h, h + 1).Reshape(Shape{kv_lora_, nope_});
    batch.AddRows(q + h * qd, seqs, nope_, wk_h, q_abs + h * width, qw, aw);
  }
  batch.Run(pool);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < heads_; ++h)
      std::memcpy(q_abs + (t * heads_ + h) * width + kv_lora_, q + t * qw + h * qd + nope_,
                  static_cast<size_t>(rope_) * sizeof(float));

  // Attention per sequence, over its own cache.
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t b = seqs[i].begin, n = seqs[i].count, pos0 = caches[i].pos0;
    const KvLayer& cache = caches[i].layer;
    kernels::AttentionArgs a{};
    a.q = q_abs + b * aw; a.ldq = aw;
    a.k = cache.data; a.ldk = width;
    a.v = cache.data; a.ldv = width;  // V = the latent columns of the same rows
    a.kv_dtype = cache.dtype;
    a.out = ctx + b * heads_ * kv_lora_; a.ldo = heads_ * kv_lora_;
    a.Tq = n; a.Tk = pos0 + n;
    a.Hq = heads_; a.Hkv = 1;
    a.Dk = width; a.Dv = kv_lora_;
    a.scale = softmax_scale_;
    a.causal = true;
    kernels::Attention(pool, a);
  }

  // Per-head value projection out of the latent, then o_proj.
  for (int64_t h = 0; h < heads_; ++h) {
    const int64_t r0 = h * (nope_ + v_dim_) + nope_;
    TensorView wv_h = kv_b_.Slice0(r0, r0 + v_dim_);
    batch.AddRows(ctx + h * kv_lora_, seqs, kv_lora_, wv_h, v_out + h * v_dim_, heads_ * kv_lora_, heads_ * v_dim_);
  }
  batch.Run(pool);
  batch.AddRows(v_out, seqs, heads_ * v_dim_, o_proj_, out);
  batch.Run(pool);
}

}  // namespace dsvl
