// MoE routing against a plain transcription of the official MoEGate (per token: score, choose,
// weigh), written with full sorts instead of partial ones, for every topk method and scoring
// function, with norm_topk_prob on and off.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "llm/moe_gate.h"

namespace dsvl {
namespace {

// Indices sorted by descending value (stable: ties keep index order).
std::vector<int> SortedDesc(const std::vector<double>& v) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] > v[b]; });
  return idx;
}

// One token through the official gate, in double.
void ReferenceRoute(const MoeConfig& c, const std::vector<double>& logits, const std::vector<double>& bias,
                    std::vector<int>& ids, std::vector<double>& w) {
  const int E = static_cast<int>(c.n_routed_experts), k = static_cast<int>(c.experts_per_token);
  std::vector<double> scores(E);
  if (c.scoring == MoeScoring::kSoftmax) {
    double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
    for (int e = 0; e < E; ++e) sum += std::exp(logits[e] - mx);
    for (int e = 0; e < E; ++e) scores[e] = std::exp(logits[e] - mx) / sum;
  } else {
    for (int e = 0; e < E; ++e) scores[e] = 1.0 / (1.0 + std::exp(-logits[e]));
  }
  std::vector<double> choice = scores;
  if (c.topk_method != MoeTopkMethod::kGreedy) {
    const bool noaux = c.topk_method == MoeTopkMethod::kNoauxTc;
    if (noaux)
      for (int e = 0; e < E; ++e) choice[e] += bias[e];
    const int G = static_cast<int>(c.n_group), per = E / G;
    std::vector<double> group(G);
    for (int g = 0; g < G; ++g) {
      std::vector<double> members(choice.begin() + g * per, choice.begin() + (g + 1) * per);
      std::sort(members.rbegin(), members.rend());
      group[g] = noaux ? members[0] + members[1] : members[0];
    }
    std::vector<int> groups = SortedDesc(group);
    std::set<int> kept(groups.begin(), groups.begin() + c.topk_group);
    for (int e = 0; e < E; ++e)
      if (!kept.count(e / per)) choice[e] = 0.0;
  }
  std::vector<int> order = SortedDesc(choice);
  ids.assign(order.begin(), order.begin() + k);
  w.resize(k);
  double sum = 0;
  for (int j = 0; j < k; ++j) sum += (w[j] = scores[ids[j]]);
  for (int j = 0; j < k; ++j)
    w[j] = (k > 1 && c.norm_topk_prob ? w[j] / (sum + 1e-20) : w[j]) * c.routed_scaling_factor;
}

struct GateCase {
  const char* name;
  MoeTopkMethod method;
  MoeScoring scoring;
  bool norm;
  float scale;
  int64_t n_group, topk_group;
};

class MoeGateTest : public ::testing::TestWithParam<GateCase> {};

TEST_P(MoeGateTest, MatchesReference) {
  const GateCase& g = GetParam();
  MoeConfig c;
  c.n_routed_experts = 16;
  c.experts_per_token = 4;
  c.topk_method = g.method;
  c.scoring = g.scoring;
  c.norm_topk_prob = g.norm;
  c.routed_scaling_factor = g.scale;
  c.n_group = g.n_group;
  c.topk_group = g.topk_group;
  const int64_t E = c.n_routed_experts, k = c.experts_per_token, T = 64;

  std::mt19937 rng(7);
  std::normal_distribution<float> n01(0.0f, 2.0f);
  std::vector<float> bias;
  if (g.method == MoeTopkMethod::kNoauxTc)
    for (int64_t e = 0; e < E; ++e) bias.push_back(0.3f * n01(rng));
  std::vector<float> logits(static_cast<size_t>(T * E));
  for (float& x : logits) x = n01(rng);

  MoeRouter router(c, bias);
  std::vector<int32_t> ids(static_cast<size_t>(T * k));
  std::vector<float> w(static_cast<size_t>(T * k));
  router.Route(logits.data(), T, ids.data(), w.data());

  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> lg(logits.begin() + t * E, logits.begin() + (t + 1) * E);
    std::vector<int> want_ids;
    std::vector<double> want_w;
    ReferenceRoute(c, lg, std::vector<double>(bias.begin(), bias.end()), want_ids, want_w);
    // Same set of experts (order within a token does not matter), same weight per expert.
    for (int j = 0; j < k; ++j) {
      auto it = std::find(ids.begin() + t * k, ids.begin() + (t + 1) * k, want_ids[j]);
      ASSERT_NE(it, ids.begin() + (t + 1) * k) << "token " << t << " misses expert " << want_ids[j];
      EXPECT_NEAR(w[static_cast<size_t>(it - ids.begin())], want_w[j], 1e-6) << "token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MoeGateTest,
    ::testing::Values(GateCase{"greedy_softmax", MoeTopkMethod::kGreedy, MoeScoring::kSoftmax, false, 1.0f, 1, 1},
                      GateCase{"greedy_softmax_norm", MoeTopkMethod::kGreedy, MoeScoring::kSoftmax, true, 1.0f, 1, 1},
                      GateCase{"greedy_sigmoid_scaled", MoeTopkMethod::kGreedy, MoeScoring::kSigmoid, false, 2.5f, 1, 1},
                      GateCase{"group_limited_softmax", MoeTopkMethod::kGroupLimitedGreedy, MoeScoring::kSoftmax, false, 1.0f, 4, 2},
                      GateCase{"group_limited_sigmoid_norm", MoeTopkMethod::kGroupLimitedGreedy, MoeScoring::kSigmoid, true, 1.5f, 4, 2},
                      GateCase{"noaux_tc_sigmoid_norm", MoeTopkMethod::kNoauxTc, MoeScoring::kSigmoid, true, 2.0f, 4, 2},
                      GateCase{"noaux_tc_sigmoid_one_group", MoeTopkMethod::kNoauxTc, MoeScoring::kSigmoid, true, 2.0f, 1, 1},
                      GateCase{"noaux_tc_softmax_plain", MoeTopkMethod::kNoauxTc, MoeScoring::kSoftmax, false, 1.0f, 8, 3}),
    [](const ::testing::TestParamInfo<GateCase>& info) { return std::string(info.param.name); });

// noaux_tc masks the dropped groups with 0.0, not -inf: when the kept group's biased scores are
// all negative, the official gate picks experts of the dropped group. Weights still come from the
// unbiased scores.
TEST(MoeGate, NoauxTcMasksWithZero) {
  MoeConfig c;
  c.n_routed_experts = 4;
  c.experts_per_token = 2;
  c.topk_method = MoeTopkMethod::kNoauxTc;
  c.scoring = MoeScoring::kSigmoid;
  c.n_group = 2;
  c.topk_group = 1;
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0f;
  // sigmoid(0) = 0.5 everywhere; group 0 sums to 1 - 3.1 = -2.1 > group 1's 1 - 6 = -5.
  MoeRouter router(c, {-1.5f, -1.6f, -3.0f, -3.0f});
  const float logits[4] = {0, 0, 0, 0};
  int32_t ids[2];
  float w[2];
  router.Route(logits, 1, ids, w);
  std::set<int32_t> got(ids, ids + 2);
  EXPECT_EQ(got, (std::set<int32_t>{2, 3}));  // masked 0.0 beats the kept group's -1.0 and -1.1
  EXPECT_FLOAT_EQ(w[0], 0.5f);
  EXPECT_FLOAT_EQ(w[1], 0.5f);
}

TEST(MoeGate, RejectsBadConfig) {
  MoeConfig c;
  c.n_routed_experts = 8;
  c.experts_per_token = 9;
  EXPECT_THROW(MoeRouter(c, {}), Error);
  c.experts_per_token = 2;
  c.topk_method = MoeTopkMethod::kNoauxTc;
  c.n_group = 2;
  c.topk_group = 1;
  EXPECT_THROW(MoeRouter(c, {}), Error);  // bias missing
  c.topk_method = MoeTopkMethod::kGroupLimitedGreedy;
  c.n_group = 3;  // does not divide 8
  EXPECT_THROW(MoeRouter(c, {}), Error);
}

}  // namespace
}  // namespace dsvl
