// MLA in the absorbed form (what MlaAttention runs, caching only [ckv | k_pe]) against the
// unabsorbed textbook form written here: K = [k_nope, k_pe] and V from kv_b_proj per head, the
// official de-interleave + rotate_half RoPE, causal softmax, o_proj. Also in two chunks over one
// cache, to cover attention over rows written by an earlier call.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "llm/attention_mla.h"
#include "llm/kv_cache.h"
#include "tiny_checkpoint.h"
#include "kernels/ops.h"

namespace dsvl {
namespace {

using Mat = std::vector<double>;

// y[T, N] = x[T, K] · w[N, K]ᵀ
Mat MatMulT(const Mat& x, int64_t T, int64_t K, const std::vector<float>& w, int64_t N) {
  Mat y(static_cast<size_t>(T * N), 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += x[t * K + k] * w[n * K + k];
      y[t * N + n] = acc;
    }
  return y;
}

void RmsNormRows(Mat& x, int64_t T, int64_t D, const std::vector<float>& w) {
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t d = 0; d < D; ++d) ss += x[t * D + d] * x[t * D + d];
    const double inv = 1.0 / std::sqrt(ss / D + 1e-6);
    for (int64_t d = 0; d < D; ++d) x[t * D + d] *= inv * w[d];
  }
}

// The official apply_rotary_pos_emb for DeepseekV2: de-interleave, then rotate_half with
// cos/sin = cat(freqs, freqs).
void OfficialRope(double* v, int64_t dim, int64_t pos, double theta) {
  const int64_t half = dim / 2;
  std::vector<double> d(static_cast<size_t>(dim)), out(static_cast<size_t>(dim));
  for (int64_t i = 0; i < half; ++i) {
    d[i] = v[2 * i];
    d[i + half] = v[2 * i + 1];
  }
  for (int64_t i = 0; i < dim; ++i) {
    const int64_t f = i % half;
    const double ang = static_cast<double>(pos) * std::pow(theta, -2.0 * f / dim);
    const double rot = i < half ? -d[i + half] : d[i - half];
    out[i] = d[i] * std::cos(ang) + rot * std::sin(ang);
  }
  for (int64_t i = 0; i < dim; ++i) v[i] = out[i];
}

Mat ReferenceMla(const LlmConfig& c, const test::TinyCheckpoint& ck, const std::string& a, const Mat& x, int64_t T) {
  const int64_t Hd = c.hidden_size, nh = c.num_heads;
  const MlaConfig& m = c.mla;
  const int64_t qd = m.qk_nope_head_dim + m.qk_rope_head_dim;
  Mat q;
  if (m.q_lora_rank > 0) {
    Mat qa = MatMulT(x, T, Hd, ck.data(a + "q_a_proj.weight"), m.q_lora_rank);
    RmsNormRows(qa, T, m.q_lora_rank, ck.data(a + "q_a_layernorm.weight"));
    q = MatMulT(qa, T, m.q_lora_rank, ck.data(a + "q_b_proj.weight"), nh * qd);
  } else {
    q = MatMulT(x, T, Hd, ck.data(a + "q_proj.weight"), nh * qd);
  }
  const int64_t kva = m.kv_lora_rank + m.qk_rope_head_dim;
  Mat kv = MatMulT(x, T, Hd, ck.data(a + "kv_a_proj_with_mqa.weight"), kva);
  Mat ckv(static_cast<size_t>(T * m.kv_lora_rank)), kpe(static_cast<size_t>(T * m.qk_rope_head_dim));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < m.kv_lora_rank; ++i) ckv[t * m.kv_lora_rank + i] = kv[t * kva + i];
    for (int64_t i = 0; i < m.qk_rope_head_dim; ++i) kpe[t * m.qk_rope_head_dim + i] = kv[t * kva + m.kv_lora_rank + i];
    OfficialRope(&kpe[t * m.qk_rope_head_dim], m.qk_rope_head_dim, t, c.rope_theta);
    for (int64_t h = 0; h < nh; ++h) OfficialRope(&q[(t * nh + h) * qd + m.qk_nope_head_dim], m.qk_rope_head_dim, t, c.rope_theta);
  }
  RmsNormRows(ckv, T, m.kv_lora_rank, ck.data(a + "kv_a_layernorm.weight"));
  const int64_t kvb = m.qk_nope_head_dim + m.v_head_dim;
  Mat kvx = MatMulT(ckv, T, m.kv_lora_rank, ck.data(a + "kv_b_proj.weight"), nh * kvb);  // [T, nh, nope + v]
  const double scale = 1.0 / std::sqrt(static_cast<double>(qd));
  Mat ctx(static_cast<size_t>(T * nh * m.v_head_dim), 0.0);
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t i = 0; i < T; ++i) {
      std::vector<double> s(static_cast<size_t>(i + 1));
      double mx = -1e300;
      for (int64_t j = 0; j <= i; ++j) {
        double d = 0;
        const double* qi = &q[(i * nh + h) * qd];
        for (int64_t e = 0; e < m.qk_nope_head_dim; ++e) d += qi[e] * kvx[(j * nh + h) * kvb + e];
        for (int64_t e = 0; e < m.qk_rope_head_dim; ++e) d += qi[m.qk_nope_head_dim + e] * kpe[j * m.qk_rope_head_dim + e];
        s[j] = d * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (double& v : s) sum += (v = std::exp(v - mx));
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t e = 0; e < m.v_head_dim; ++e)
          ctx[(i * nh + h) * m.v_head_dim + e] += s[j] / sum * kvx[(j * nh + h) * kvb + m.qk_nope_head_dim + e];
    }
  return MatMulT(ctx, T, nh * m.v_head_dim, ck.data(a + "o_proj.weight"), Hd);
}

void CheckAgainstReference(int64_t q_lora_rank) {
  LlmConfig c = test::TinyMlaMoeConfig(q_lora_rank);
  c.rope_theta = 50.0f;  // large angles at small positions, so a RoPE pairing mistake shows
  test::TinyCheckpoint ck(3);
  const std::string a = "layer.";
  ck.AddMla(c, a);
  std::unique_ptr<WeightStore> ws = ck.Open("mla" + std::to_string(q_lora_rank));
  MlaAttention attn(c, *ws, a);

  const int64_t T = 11, H = c.hidden_size, T1 = 4;
  std::mt19937 rng(5);
  std::normal_distribution<float> n01;
  std::vector<float> x(static_cast<size_t>(T * H));
  for (float& v : x) v = n01(rng);
  const Mat want = ReferenceMla(c, ck, a, Mat(x.begin(), x.end()), T);

  ThreadPool pool(2);
  Workspace scratch;
  const int64_t half = c.mla.qk_rope_head_dim / 2;
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) pos[i] = i;
  std::vector<float> cos(static_cast<size_t>(T * half)), sin(cos.size());
  kernels::FillRopeTable(pos.data(), T, c.mla.qk_rope_head_dim, c.rope_theta, cos.data(), sin.data());

  DecoderKvCache cache(1, MlaAttention::CacheWidth(c), T);
  EXPECT_EQ(cache.width(), c.mla.kv_lora_rank + c.mla.qk_rope_head_dim);  // latent + rope only
  std::vector<float> out(static_cast<size_t>(T * H));
  // Two chunks: [0, T1) then [T1, T), the second attending to cache rows of the first.
  attn.Forward(pool, x.data(), T1, 0, RopeRows{cos.data(), sin.data()}, cache.layer(0), out.data(), scratch);
  attn.Forward(pool, x.data() + T1 * H, T - T1, T1, RopeRows{cos.data() + T1 * half, sin.data() + T1 * half},
               cache.layer(0), out.data() + T1 * H, scratch);
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    max_err = std::max(max_err, std::fabs(out[i] - want[i]));
    max_ref = std::max(max_ref, std::fabs(want[i]));
  }
  EXPECT_GT(max_ref, 0.05);
  EXPECT_LE(max_err, 1e-5 * std::max(1.0, max_ref)) << "max |ref| " << max_ref;
}

TEST(MlaAttention, AbsorbedMatchesUnabsorbedReference) { CheckAgainstReference(0); }
TEST(MlaAttention, AbsorbedMatchesUnabsorbedReferenceWithQLora) { CheckAgainstReference(12); }

TEST(MlaAttention, RejectsMisShapedWeights) {
  LlmConfig c = test::TinyMlaMoeConfig(0);
  test::TinyCheckpoint ck;
  LlmConfig wrong = c;
  wrong.mla.kv_lora_rank = 10;  // kv_a_proj_with_mqa / kv_b_proj written for 10, config says 16
  ck.AddMla(wrong, "layer.");
  std::unique_ptr<WeightStore> ws = ck.Open("mla_bad");
  try {
    MlaAttention attn(c, *ws, "layer.");
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
    EXPECT_NE(std::string(e.what()).find("kv_a_proj_with_mqa"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsvl
