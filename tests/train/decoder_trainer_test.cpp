// DecoderTrainer on tiny random decoders, against central finite differences of
// L = (1/R) Σ CE + Σ aux (the MoE auxiliary losses with weight 1, as the official train() path): MLA
// without and with q-LoRA, v_head_dim wider than the query head, Llama-style GQA attention, and the
// MoE routings (greedy softmax; noaux_tc sigmoid with norm_topk_prob and routed_scaling_factor 2). The
// vl2_tiny fixture covers only MHA attention and greedy softmax routing without normalisation, so this
// is what checks MLA and the other routings' backward. The forward is also checked against the
// inference decoder (MLA there runs the absorbed form).
//
// The top-k choice is piecewise constant: a perturbation that changes any token's experts crosses a
// discontinuity, so such elements are skipped (and counted: they must stay rare).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../llm/tiny_checkpoint.h"
#include "core/thread_pool.h"
#include "dsvl/error.h"
#include "llm/language_model.h"
#include "train/decoder_trainer.h"
#include "train/grad_ops.h"
#include "train/param_set.h"

namespace dsvl::train {
namespace {

constexpr float kAuxAlpha = 0.3f;  // large, so that an error in the aux gradient stands out
constexpr int64_t kT = 7;

LlmConfig Variant(int v) {
  switch (v) {
    case 0: return test::TinyDecoderVariant(1);  // MLA, noaux_tc sigmoid, norm_topk_prob, rsf 2
    case 1: return test::TinyDecoderVariant(2);  // MLA with q-LoRA, greedy softmax
    case 2: {                                    // MLA with v_head_dim > nope + rope, greedy softmax
      LlmConfig c = test::TinyDecoderVariant(2);
      c.mla.v_head_dim = 16;
      c.moe.norm_topk_prob = true;
      return c;
    }
    default: {  // Llama-style GQA attention (use_mla false) with greedy softmax MoE, as vl2_tiny
      LlmConfig c = test::TinyDecoderVariant(2);
      c.attention = AttentionKind::kMha;
      c.num_kv_heads = 2;
      c.head_dim = 8;
      return c;
    }
  }
}

struct Case {
  LlmConfig config;
  std::unique_ptr<WeightStore> store;
  std::vector<int64_t> ids;
  std::vector<float> embeds;
  Targets targets;
};

Case Make(int variant) {
  Case s;
  s.config = Variant(variant);
  test::TinyCheckpoint ck(40 + static_cast<uint32_t>(variant));
  ck.AddDecoder(s.config);
  s.store = ck.Open("dsv2_trainer_" + std::to_string(variant));
  std::mt19937 rng(7 + static_cast<uint32_t>(variant));
  std::uniform_int_distribution<int64_t> id(0, s.config.vocab_size - 1);
  for (int64_t t = 0; t < kT; ++t) s.ids.push_back(id(rng));
  const int64_t d = s.config.hidden_size;
  s.embeds.resize(static_cast<size_t>(kT * d));
  const std::vector<float>& table = ck.data(s.config.prefix + "model.embed_tokens.weight");
  for (int64_t t = 0; t < kT; ++t)
    std::copy_n(table.data() + s.ids[static_cast<size_t>(t)] * d, d, s.embeds.data() + t * d);
  for (int64_t t = 0; t + 1 < kT; ++t) {
    s.targets.rows.push_back(t);
    s.targets.labels.push_back(s.ids[static_cast<size_t>(t + 1)]);
  }
  return s;
}

class DecoderTrainerGrad : public testing::TestWithParam<int> {};

TEST_P(DecoderTrainerGrad, ForwardMatchesInferenceDecoder) {
  Case s = Make(GetParam());
  ParamSet params;
  LlmConfig no_aux = s.config;
  no_aux.moe.aux_loss_alpha = 0.0f;
  DecoderTrainer trainer(no_aux, *s.store, params);
  ThreadPool pool(1);
  Targets all;
  for (int64_t t = 0; t < kT; ++t) {
    all.rows.push_back(t);
    all.labels.push_back(s.ids[static_cast<size_t>((t + 3) % kT)]);
  }
  const double ours = trainer.Run(pool, s.embeds.data(), nullptr, kT, all, false, 1.0f, nullptr);
  auto lm = CreateLanguageModel(s.config, *s.store);
  auto cache = lm->NewCache(kT);
  std::vector<float> logits(static_cast<size_t>(kT * s.config.vocab_size));
  ForwardRequest req;
  req.embeds = s.embeds.data();
  req.n = kT;
  req.logits_out = logits.data();
  req.all_logits = true;
  lm->Forward(pool, *cache, req);
  const double want = CrossEntropy(logits.data(), kT, s.config.vocab_size, all.labels.data(), 1.0f, nullptr);
  EXPECT_NEAR(ours, want, 1e-5 * std::fabs(want));
}

TEST_P(DecoderTrainerGrad, GradientsMatchFiniteDifferences) {
  Case s = Make(GetParam());
  ParamSet params;
  for (const auto& [name, info] : s.store->tensors())
    if (name.find("e_score_correction_bias") == std::string::npos) params.Add(*s.store, name);
  s.config.moe.aux_loss_alpha = kAuxAlpha;
  DecoderTrainer trainer(s.config, *s.store, params);
  ThreadPool pool(1);
  const float scale = 1.0f / static_cast<float>(s.targets.rows.size());
  std::vector<float> d_embeds(s.embeds.size());
  trainer.Run(pool, s.embeds.data(), s.ids.data(), kT, s.targets, true, scale, d_embeds.data());
  ASSERT_GT(trainer.last_aux_loss(), 0.0);
  const std::vector<int32_t> routing = trainer.routing();
  ASSERT_FALSE(routing.empty());

  // Fourth-order central differences (±h, ±2h) of the f32 forward: truncation O(h⁴) and rounding
  // ~1e-7·|L|/h (measured worst |fd - g| 3.5e-5 .. 4.7e-5) stay below kAbs, while a wrong backward
  // term is off by O(|g|). A small h keeps most perturbations on one side of the routing boundaries
  // (measured skips: 0, 0, 6 and 64 of ~1300).
  constexpr float h = 5e-3f;
  constexpr double kAbs = 2e-4, kRel = 2e-3;
  int64_t checked = 0, skipped = 0;
  double worst = 0;
  // embed_table: the element is in embed_tokens, so the inputs are re-embedded from the perturbed table.
  auto fd_check = [&](float* value, double g, const std::string& what, bool embed_table) {
    const float v0 = *value;
    bool same = true;
    const std::vector<float> embeds0 = s.embeds;
    auto at = [&](float dv) {
      *value = v0 + dv;
      if (embed_table) trainer.Embed(s.ids.data(), kT, s.embeds.data());
      const double ce = trainer.Run(pool, s.embeds.data(), s.ids.data(), kT, s.targets, false, scale, nullptr);
      same = same && trainer.routing() == routing;
      return ce * scale + trainer.last_aux_loss();
    };
    const double fd = (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
    *value = v0;
    s.embeds = embeds0;
    if (!same) {
      ++skipped;
      return;
    }
    ++checked;
    worst = std::max(worst, std::fabs(fd - g));
    EXPECT_NEAR(g, fd, kAbs + kRel * std::fabs(fd)) << what;
  };
  // Every input-embedding element (the gradient an adaptor upstream trains from) ...
  for (size_t i = 0; i < s.embeds.size(); ++i) fd_check(&s.embeds[i], d_embeds[i], "d_embeds[" + std::to_string(i) + "]", false);
  // ... and, per tensor, its largest-gradient element plus a random sample (every element of every
  // tensor would take minutes; the sample covers each tensor's rows and experts).
  std::mt19937 rng(3);
  for (TrainParam& p : params.params()) {
    ASSERT_EQ(p.grad.size(), p.value.size());
    std::vector<size_t> idx;
    idx.push_back(static_cast<size_t>(std::max_element(p.grad.begin(), p.grad.end(),
                                                       [](float a, float b) { return std::fabs(a) < std::fabs(b); }) -
                                      p.grad.begin()));
    std::uniform_int_distribution<size_t> pick(0, p.value.size() - 1);
    for (int k = 0; k < 12; ++k) idx.push_back(pick(rng));
    const bool table = p.name.find("embed_tokens") != std::string::npos;
    for (size_t i : idx) fd_check(&p.value[i], p.grad[i], p.name + "[" + std::to_string(i) + "]", table);
  }
  std::printf("variant %d: %lld checked, %lld skipped (routing changed), worst |fd - g| %.2e\n", GetParam(),
              static_cast<long long>(checked), static_cast<long long>(skipped), worst);
  EXPECT_LE(skipped * 10, checked) << "too many perturbations changed the routing";
}

constexpr const char* kVariantNames[] = {"MlaNoauxTcSigmoid", "MlaQLoraGreedySoftmax", "MlaWideValues",
                                         "MhaGreedySoftmax"};
INSTANTIATE_TEST_SUITE_P(Configs, DecoderTrainerGrad, testing::Values(0, 1, 2, 3),
                         [](const auto& info) { return std::string(kVariantNames[info.param]); });

// An expert that receives no token still has a gradient tensor, all zero (README §5); the aux loss
// of alpha 0 is exactly 0 and adds nothing.
TEST(DecoderTrainer, UnroutedExpertGetsZeroGradientAndAlphaZeroAddsNoAux) {
  Case s = Make(3);
  ParamSet params;
  for (const auto& [name, info] : s.store->tensors()) params.Add(*s.store, name);
  s.config.moe.aux_loss_alpha = 0.0f;
  DecoderTrainer trainer(s.config, *s.store, params);
  ThreadPool pool(1);
  const int64_t T = 1;  // one token: only top_k of the 8 experts of each MoE layer are used
  Targets one{{0}, {s.ids[1]}};
  trainer.Run(pool, s.embeds.data(), s.ids.data(), T, one, true, 1.0f, nullptr);
  EXPECT_EQ(trainer.last_aux_loss(), 0.0);
  const std::vector<int32_t> routing = trainer.routing();
  const int64_t K = s.config.moe.experts_per_token, E = s.config.moe.n_routed_experts;
  int64_t zero_experts = 0, moe_layer = 0;
  for (int64_t l = 0; l < s.config.num_layers; ++l) {
    if (!s.config.moe.IsMoeLayer(l)) continue;
    for (int64_t e = 0; e < E; ++e) {
      const bool used = std::find(routing.begin() + moe_layer * K, routing.begin() + (moe_layer + 1) * K, e) !=
                        routing.begin() + (moe_layer + 1) * K;
      for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
        const TrainParam* p = params.Find(s.config.prefix + "model.layers." + std::to_string(l) + ".mlp.experts." +
                                          std::to_string(e) + "." + proj + ".weight");
        ASSERT_NE(p, nullptr);
        double m = 0;
        for (float g : p->grad) m = std::max(m, static_cast<double>(std::fabs(g)));
        if (used) EXPECT_GT(m, 0.0) << "layer " << l << " expert " << e;
        else EXPECT_EQ(m, 0.0) << "layer " << l << " expert " << e;
        if (!used) ++zero_experts;
      }
    }
    ++moe_layer;
  }
  EXPECT_EQ(zero_experts, moe_layer * (E - K) * 3);
}

// A bf16 checkpoint trains from its frozen tensors read in place (no f32 copy of a frozen matrix):
// loss, input gradient and the trainable tensors' gradients equal those of an f32 file holding the
// same (bf16-rounded) weights, for the Llama decoder and an MLA/MoE one.
TEST(DecoderTrainer, FrozenBf16CheckpointTrainsAsItsF32Widening) {
  for (const LlmConfig& config : {test::TinyLlamaConfig(), Variant(0)}) {
    test::TinyCheckpoint ck(77);
    ck.AddDecoder(config);
    ck.RoundToBf16();
    const std::unique_ptr<WeightStore> f32 = ck.Open("bf16_vs_f32_a"), bf16 = ck.Open("bf16_vs_f32_b", DType::kBF16);
    const std::string layer0 = config.prefix + "model.layers.0.";
    ParamSet p32, p16;
    for (ParamSet* p : {&p32, &p16}) {
      const WeightStore& store = p == &p32 ? *f32 : *bf16;
      p->Add(store, config.prefix + "model.norm.weight");
      p->Add(store, layer0 + "input_layernorm.weight");
    }
    EXPECT_EQ(WeightRef(p16, *bf16, layer0 + "mlp.down_proj.weight").view().dtype, DType::kBF16)
        << "a frozen matrix is read in place";
    DecoderTrainer t32(config, *f32, p32), t16(config, *bf16, p16);
    std::vector<int64_t> ids;
    for (int64_t t = 0; t < kT; ++t) ids.push_back((t * 7 + 3) % config.vocab_size);
    const int64_t d = config.hidden_size;
    std::vector<float> e32(static_cast<size_t>(kT * d)), e16(e32.size()), d32(e32.size()), d16(e32.size());
    t32.Embed(ids.data(), kT, e32.data());
    t16.Embed(ids.data(), kT, e16.data());
    EXPECT_EQ(e32, e16) << "embedding rows widened from bf16";
    Targets targets;
    for (int64_t t = 0; t + 1 < kT; ++t) {
      targets.rows.push_back(t);
      targets.labels.push_back(ids[static_cast<size_t>(t + 1)]);
    }
    ThreadPool pool(2);
    const double l32 = t32.Run(pool, e32.data(), ids.data(), kT, targets, true, 1.0f, d32.data());
    const double l16 = t16.Run(pool, e16.data(), ids.data(), kT, targets, true, 1.0f, d16.data());
    EXPECT_NEAR(l16, l32, 1e-5 * std::fabs(l32));
    auto expect_close = [](const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
      double diff = 0, scale = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
        scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
      }
      EXPECT_GT(scale, 0.0) << what;
      EXPECT_LE(diff, 1e-5 * scale) << what;
    };
    expect_close(d16, d32, "d_embeds");
    for (size_t i = 0; i < p32.params().size(); ++i)
      expect_close(p16.params()[i].grad, p32.params()[i].grad, p32.params()[i].name);
  }
}

TEST(DecoderTrainer, RejectsMisShapedTensorsAndBadTargets) {
  Case s = Make(0);
  ParamSet params;
  LlmConfig wrong = s.config;
  wrong.mla.kv_lora_rank = 8;  // the checkpoint's is 16
  EXPECT_THROW(DecoderTrainer(wrong, *s.store, params), Error);
  LlmConfig wrong_moe = s.config;
  wrong_moe.moe.moe_intermediate_size = 5;
  EXPECT_THROW(DecoderTrainer(wrong_moe, *s.store, params), Error);
  LlmConfig negative_alpha = s.config;
  negative_alpha.moe.aux_loss_alpha = -0.1f;
  EXPECT_THROW(DecoderTrainer(negative_alpha, *s.store, params), Error);
  DecoderTrainer trainer(s.config, *s.store, params);
  ThreadPool pool(1);
  Targets bad{{kT}, {0}};  // row outside the sequence
  EXPECT_THROW(trainer.Run(pool, s.embeds.data(), nullptr, kT, bad, true, 1.0f, nullptr), Error);
}

}  // namespace
}  // namespace dsvl::train
