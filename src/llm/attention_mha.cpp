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

void MhaAttention::Forward(ThreadPool& pool, const float* xn, int64_t T, int64_t pos0, const RopeRows& rope,
                           const KvLayer& cache, float* out, Workspace& ws) const {
  const int64_t qw = heads_ * head_dim_, kvw = kv_heads_ * head_dim_, width = 2 * kvw;
  float* q = ws.F32(Workspace::kBlock, T * qw);
  float* ctx = ws.F32(Workspace::kBlock + 1, T * qw);
  // This chunk's cache rows, [K | V] per token (staged in f32 for a half-precision cache).
  float* rows = cache.WriteRows(pos0, cache.in_place() ? nullptr : ws.F32(Workspace::kBlock + 2, T * width));

  // q, k and v as one parallel region (three in decode would each wake the pool).
  LinearBatch& batch = ws.linears();
  batch.Add(xn, T, hidden_, q_, q);
  batch.Add(xn, T, hidden_, k_, rows, 0, width);
  batch.Add(xn, T, hidden_, v_, rows + kvw, 0, width);
  batch.Run(pool);
  kernels::ApplyRope(q, T, heads_, head_dim_, qw, head_dim_, rope.cos, rope.sin, kernels::RopeStyle::kRotateHalf);
  kernels::ApplyRope(rows, T, kv_heads_, head_dim_, width, head_dim_, rope.cos, rope.sin,
                     kernels::RopeStyle::kRotateHalf);
  cache.Store(pool, pos0, T, rows);

  kernels::AttentionArgs a{};
  a.q = q; a.ldq = qw;
  a.k = cache.data; a.ldk = width;
  a.v = static_cast<const char*>(cache.data) + DTypeBytes(cache.dtype, kvw); a.ldv = width;
  a.kv_dtype = cache.dtype;
  a.out = ctx; a.ldo = qw;
  a.Tq = T; a.Tk = pos0 + T;
  a.Hq = heads_; a.Hkv = kv_heads_;
  a.Dk = head_dim_; a.Dv = head_dim_;
  a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  a.causal = true;
  kernels::Attention(pool, a);

  kernels::Linear(pool, ctx, T, qw, o_, nullptr, out);
}

}  // namespace dsvl
