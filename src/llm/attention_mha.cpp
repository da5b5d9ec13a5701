#include "llm/attention_mha.h"

#include <cmath>

#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {

MhaAttention::MhaAttention(const LlmConfig& c, const WeightStore& weights, const std::string& prefix)
    : hidden_(c.hidden_size), heads_(c.num_heads), kv_heads_(c.num_kv_heads), head_dim_(c.head_dim) {
  q_ = weights.Get(prefix + "q_proj.weight", Shape{heads_ * head_dim_, hidden_});
  k_ = weights.Get(prefix + "k_proj.weight", Shape{kv_heads_ * head_dim_, hidden_});
  v_ = weights.Get(prefix + "v_proj.weight", Shape{kv_heads_ * head_dim_, hidden_});
  o_ = weights.Get(prefix + "o_proj.weight", Shape{hidden_, heads_ * head_dim_});
}

void MhaAttention::ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs,
                                std::span<const SeqCache> caches, const RopeRows& rope, float* out,
                                Workspace& ws) const {
  const int64_t qw = heads_ * head_dim_, kvw = kv_heads_ * head_dim_, width = 2 * kvw, T = TotalRows(seqs);
  const int64_t half = head_dim_ / 2;
  float* q = ws.F32(Workspace::kBlock, T * qw);
  float* ctx = ws.F32(Workspace::kBlock + 1, T * qw);
  // f32 staging for the new cache rows of half-precision caches, at each sequence's stacked rows.
  bool staged = false;
  for (const SeqCache& c : caches) staged |= !c.layer.in_place();
  float* staging = staged ? ws.F32(Workspace::kBlock + 2, T * width) : nullptr;
  // Sequence i's new cache rows, [K | V] per token.
  auto rows_of = [&](size_t i) {
    return caches[i].layer.WriteRows(caches[i].pos0, staging ? staging + seqs[i].begin * width : nullptr);
  };

  // q, k and v of every sequence as one parallel region (each weight streamed once for all).
  LinearBatch& batch = ws.linears();
  batch.AddRows(xn, seqs, hidden_, q_, q);
  for (size_t i = 0; i < seqs.size(); ++i)
    batch.Add(xn + seqs[i].begin * hidden_, seqs[i].count, hidden_, k_, rows_of(i), 0, width);
  for (size_t i = 0; i < seqs.size(); ++i)
    batch.Add(xn + seqs[i].begin * hidden_, seqs[i].count, hidden_, v_, rows_of(i) + kvw, 0, width);
  batch.Run(pool);
  kernels::ApplyRope(q, T, heads_, head_dim_, qw, head_dim_, rope.cos, rope.sin, kernels::RopeStyle::kRotateHalf);

  // Attention per sequence, over its own cache.
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t b = seqs[i].begin, n = seqs[i].count, pos0 = caches[i].pos0;
    const KvLayer& cache = caches[i].layer;
    float* rows = rows_of(i);
    kernels::ApplyRope(rows, n, kv_heads_, head_dim_, width, head_dim_, rope.cos + b * half, rope.sin + b * half,
                       kernels::RopeStyle::kRotateHalf);
    cache.Store(pool, pos0, n, rows);

    kernels::AttentionArgs a{};
    a.q = q + b * qw; a.ldq = qw;
    a.k = cache.data; a.ldk = width;
    a.v = static_cast<const char*>(cache.data) + DTypeBytes(cache.dtype, kvw); a.ldv = width;
    a.kv_dtype = cache.dtype;
    a.out = ctx + b * qw; a.ldo = qw;
    a.Tq = n; a.Tk = pos0 + n;
    a.Hq = heads_; a.Hkv = kv_heads_;
    a.Dk = head_dim_; a.Dv = head_dim_;
    a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    a.causal = true;
    kernels::Attention(pool, a);
  }

  batch.AddRows(ctx, seqs, qw, o_, out);
  batch.Run(pool);
}

}  // namespace dsvl
