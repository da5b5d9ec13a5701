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
                           float* cache_layer, float* out, Workspace& ws) const {
  const int64_t qw = heads_ * head_dim_, kvw = kv_heads_ * head_dim_, width = 2 * kvw;
  float* q = ws.F32(Workspace::kBlock, T * qw);
  float* ctx = ws.F32(Workspace::kBlock + 1, T * qw);
  float* rows = cache_layer + pos0 * width;  // this chunk's cache rows: [K | V] per token

  // q, k and v as one parallel region (three in decode would each wake the pool).
  LinearBatch& batch = ws.linears();
  batch.Add(xn, T, hidden_, q_, q);
  batch.Add(xn, T, hidden_, k_, rows, 0, width);
  batch.Add(xn, T, hidden_, v_, rows + kvw, 0, width);
  batch.Run(pool);
  kernels::ApplyRope(q, T, heads_, head_dim_, qw, head_dim_, rope.cos, rope.sin, kernels::RopeStyle::kRotateHalf);
  kernels::ApplyRope(rows, T, kv_heads_, head_dim_, width, head_dim_, rope.cos, rope.sin,
                     kernels::RopeStyle::kRotateHalf);

  kernels::AttentionArgs a{};
  a.q = q; a.ldq = qw;
  a.k = cache_layer; a.ldk = width;
  a.v = cache_layer + kvw; a.ldv = width;
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
