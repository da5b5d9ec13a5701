#include "train/mla_trainer.h"

#include <algorithm>
#include <cmath>

#include "dsvl/error.h"
#include "kernels/ops.h"
#include "train/grad_ops.h"

namespace dsvl::train {
namespace {

constexpr float kLatentNormEps = 1e-6f;

void Zero(std::vector<float>& v, int64_t n) { v.assign(static_cast<size_t>(n), 0.0f); }

}  // namespace

MlaTrainer::MlaTrainer(const LlmConfig& c, const WeightStore& weights, ParamSet& params, const std::string& prefix)
    : hidden_(c.hidden_size),
      heads_(c.num_heads),
      q_lora_(c.mla.q_lora_rank),
      kv_lora_(c.mla.kv_lora_rank),
      nope_(c.mla.qk_nope_head_dim),
      rope_(c.mla.qk_rope_head_dim),
      v_dim_(c.mla.v_head_dim),
      qd_(nope_ + rope_),
      D_(std::max(nope_ + rope_, v_dim_)),
      scale_(static_cast<float>(std::pow(static_cast<double>(nope_ + rope_), -0.5))) {
  auto get = [&](WeightRef& w, const std::string& name, const Shape& shape) {
    w = WeightRef(params, weights, prefix + name, shape);
  };
  const int64_t qw = heads_ * qd_;
  if (q_lora_ > 0) {
    get(q_a_proj_, "q_a_proj.weight", Shape{q_lora_, hidden_});
    get(q_a_norm_, "q_a_layernorm.weight", Shape{q_lora_});
    get(q_b_proj_, "q_b_proj.weight", Shape{qw, q_lora_});
  } else {
    get(q_proj_, "q_proj.weight", Shape{qw, hidden_});
  }
  get(kv_a_proj_, "kv_a_proj_with_mqa.weight", Shape{kv_lora_ + rope_, hidden_});
  get(kv_a_norm_, "kv_a_layernorm.weight", Shape{kv_lora_});
  get(kv_b_proj_, "kv_b_proj.weight", Shape{heads_ * (nope_ + v_dim_), kv_lora_});
  get(o_proj_, "o_proj.weight", Shape{hidden_, heads_ * v_dim_});
}

void MlaTrainer::Forward(ThreadPool& pool, const float* xn, int64_t T, const float* cos, const float* sin,
                         float* out) {
  const int64_t H = heads_, qw = H * qd_, kvw = kv_lora_ + rope_, kvb = nope_ + v_dim_, half = rope_ / 2;
  xn_ = xn;
  T_ = T;
  cos_.assign(cos, cos + T * half);
  sin_.assign(sin, sin + T * half);
  neg_sin_ = sin_;
  for (float& s : neg_sin_) s = -s;  // the inverse rotation, for the backward

  std::vector<float> q(static_cast<size_t>(T * qw));
  if (q_lora_ > 0) {
    Zero(qa_, T * q_lora_); Zero(qan_, T * q_lora_); Zero(rstd_q_, T);
    LinearForward(pool, xn, T, hidden_, q_a_proj_.view(), q_lora_, nullptr, qa_.data());
    RmsNormForward(qa_.data(), T, q_lora_, q_a_norm_.data(), kLatentNormEps, qan_.data(), rstd_q_.data());
    LinearForward(pool, qan_.data(), T, q_lora_, q_b_proj_.view(), qw, nullptr, q.data());
  } else {
    LinearForward(pool, xn, T, hidden_, q_proj_.view(), qw, nullptr, q.data());
  }
  Zero(kva_, T * kvw);
  LinearForward(pool, xn, T, hidden_, kv_a_proj_.view(), kvw, nullptr, kva_.data());
  Zero(ckv_, T * kv_lora_); Zero(ckvn_, T * kv_lora_); Zero(rstd_kv_, T);
  for (int64_t t = 0; t < T; ++t) std::copy_n(kva_.data() + t * kvw, kv_lora_, ckv_.data() + t * kv_lora_);
  RmsNormForward(ckv_.data(), T, kv_lora_, kv_a_norm_.data(), kLatentNormEps, ckvn_.data(), rstd_kv_.data());
  Zero(kv_, T * H * kvb);
  LinearForward(pool, ckvn_.data(), T, kv_lora_, kv_b_proj_.view(), H * kvb, nullptr, kv_.data());

  // k_pe (one head, roped), then the padded per-head Q, K, V.
  std::vector<float> kpe(static_cast<size_t>(T * rope_));
  for (int64_t t = 0; t < T; ++t) std::copy_n(kva_.data() + t * kvw + kv_lora_, rope_, kpe.data() + t * rope_);
  kernels::ApplyRope(kpe.data(), T, 1, rope_, rope_, rope_, cos_.data(), sin_.data(), kernels::RopeStyle::kInterleaved);
  Zero(Q_, T * H * D_); Zero(K_, T * H * D_); Zero(V_, T * H * D_);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      float* Qh = Q_.data() + (t * H + h) * D_;
      float* Kh = K_.data() + (t * H + h) * D_;
      const float* kvh = kv_.data() + (t * H + h) * kvb;
      std::copy_n(q.data() + t * qw + h * qd_, qd_, Qh);
      std::copy_n(kvh, nope_, Kh);
      std::copy_n(kpe.data() + t * rope_, rope_, Kh + nope_);
      std::copy_n(kvh + nope_, v_dim_, V_.data() + (t * H + h) * D_);
    }
  kernels::ApplyRope(Q_.data() + nope_, T, H, D_, H * D_, rope_, cos_.data(), sin_.data(),
                     kernels::RopeStyle::kInterleaved);

  const AttentionShape as{T, H, H, D_, scale_, true};
  Zero(A_, T * H * D_); Zero(lse_, H * T);
  AttentionForward(pool, as, Q_.data(), K_.data(), V_.data(), A_.data(), lse_.data());
  Zero(attn_v_, T * H * v_dim_);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      std::copy_n(A_.data() + (t * H + h) * D_, v_dim_, attn_v_.data() + (t * H + h) * v_dim_);
  LinearForward(pool, attn_v_.data(), T, H * v_dim_, o_proj_.view(), hidden_, nullptr, out);
}

void MlaTrainer::Backward(ThreadPool& pool, const float* dout, float* dxn) {
  if (!xn_) Throw(ErrorCode::kInvalidArgument, "training MLA: Backward without a Forward");
  const int64_t T = T_, H = heads_, qw = H * qd_, kvw = kv_lora_ + rope_, kvb = nope_ + v_dim_;
  std::vector<float> dattn_v(static_cast<size_t>(T * H * v_dim_), 0.0f);
  LinearBackward(pool, attn_v_.data(), T, H * v_dim_, o_proj_.view(), hidden_, dout, dattn_v.data(), o_proj_.grad(),
                 nullptr);
  std::vector<float> dA(static_cast<size_t>(T * H * D_), 0.0f), dQ(dA.size(), 0.0f), dK(dA.size(), 0.0f),
      dV(dA.size(), 0.0f);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      std::copy_n(dattn_v.data() + (t * H + h) * v_dim_, v_dim_, dA.data() + (t * H + h) * D_);
  const AttentionShape as{T, H, H, D_, scale_, true};
  AttentionBackward(pool, as, Q_.data(), K_.data(), V_.data(), A_.data(), lse_.data(), dA.data(), dQ.data(),
                    dK.data(), dV.data());
  // Undo the rotations: the backward of a rotation is the inverse rotation.
  kernels::ApplyRope(dQ.data() + nope_, T, H, D_, H * D_, rope_, cos_.data(), neg_sin_.data(),
                     kernels::RopeStyle::kInterleaved);
  std::vector<float> dkv(static_cast<size_t>(T * H * kvb)), dkva(static_cast<size_t>(T * kvw), 0.0f),
      dq(static_cast<size_t>(T * qw));
  std::vector<float> dkpe(static_cast<size_t>(T * rope_), 0.0f);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const float* dKh = dK.data() + (t * H + h) * D_;
      float* dkvh = dkv.data() + (t * H + h) * kvb;
      std::copy_n(dKh, nope_, dkvh);
      std::copy_n(dV.data() + (t * H + h) * D_, v_dim_, dkvh + nope_);
      for (int64_t i = 0; i < rope_; ++i) dkpe[static_cast<size_t>(t * rope_ + i)] += dKh[nope_ + i];
      std::copy_n(dQ.data() + (t * H + h) * D_, qd_, dq.data() + t * qw + h * qd_);
    }
  kernels::ApplyRope(dkpe.data(), T, 1, rope_, rope_, rope_, cos_.data(), neg_sin_.data(),
                     kernels::RopeStyle::kInterleaved);
  std::vector<float> dckvn(static_cast<size_t>(T * kv_lora_), 0.0f), dckv(dckvn.size(), 0.0f);
  LinearBackward(pool, ckvn_.data(), T, kv_lora_, kv_b_proj_.view(), H * kvb, dkv.data(), dckvn.data(),
                 kv_b_proj_.grad(), nullptr);
  RmsNormBackward(ckv_.data(), T, kv_lora_, kv_a_norm_.data(), rstd_kv_.data(), dckvn.data(), dckv.data(),
                  kv_a_norm_.grad());
  for (int64_t t = 0; t < T; ++t) {
    std::copy_n(dckv.data() + t * kv_lora_, kv_lora_, dkva.data() + t * kvw);
    std::copy_n(dkpe.data() + t * rope_, rope_, dkva.data() + t * kvw + kv_lora_);
  }
  LinearBackward(pool, xn_, T, hidden_, kv_a_proj_.view(), kvw, dkva.data(), dxn, kv_a_proj_.grad(), nullptr);
  if (q_lora_ > 0) {
    std::vector<float> dqan(static_cast<size_t>(T * q_lora_), 0.0f), dqa(dqan.size(), 0.0f);
    LinearBackward(pool, qan_.data(), T, q_lora_, q_b_proj_.view(), qw, dq.data(), dqan.data(), q_b_proj_.grad(),
                   nullptr);
    RmsNormBackward(qa_.data(), T, q_lora_, q_a_norm_.data(), rstd_q_.data(), dqan.data(), dqa.data(),
                    q_a_norm_.grad());
    LinearBackward(pool, xn_, T, hidden_, q_a_proj_.view(), q_lora_, dqa.data(), dxn, q_a_proj_.grad(), nullptr);
  } else {
    LinearBackward(pool, xn_, T, hidden_, q_proj_.view(), qw, dq.data(), dxn, q_proj_.grad(), nullptr);
  }
}

}  // namespace dsvl::train
