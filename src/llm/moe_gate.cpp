#include "llm/moe_gate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "dsvl/error.h"
#include "kernels/ops.h"

namespace dsvl {
namespace {

// Indices of the k largest of v[0, n) into idx[0, k): descending value, ties to the lower index.
// `order` is scratch of n ints.
void TopK(const float* v, int64_t n, int64_t k, int32_t* order, int32_t* idx) {
  std::iota(order, order + n, 0);
  std::partial_sort(order, order + k, order + n, [v](int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  });
  std::copy_n(order, k, idx);
}

}  // namespace

MoeRouter::MoeRouter(const MoeConfig& config, std::vector<float> correction_bias)
    : config_(config), bias_(std::move(correction_bias)) {
  const int64_t E = config.n_routed_experts, k = config.experts_per_token;
  auto bad = [&](const char* field, const std::string& expected, int64_t actual) {
    Throw(ErrorCode::kCorruptData, ErrorContext{"MoE config", field, expected, std::to_string(actual), ""});
  };
  if (E <= 0) bad("n_routed_experts", "> 0", E);
  if (k <= 0 || k > E) bad("num_experts_per_tok", "in [1, n_routed_experts]", k);
  if (config.topk_method != MoeTopkMethod::kGreedy) {
    if (config.n_group <= 0 || E % config.n_group != 0) bad("n_group", "a divisor of n_routed_experts", config.n_group);
    if (config.topk_group <= 0 || config.topk_group > config.n_group) bad("topk_group", "in [1, n_group]", config.topk_group);
    if (config.topk_group * (E / config.n_group) < k) bad("topk_group", "groups holding >= num_experts_per_tok experts", config.topk_group);
  }
  if (config.topk_method == MoeTopkMethod::kNoauxTc) {
    if (static_cast<int64_t>(bias_.size()) != E) bad("e_score_correction_bias size", std::to_string(E), static_cast<int64_t>(bias_.size()));
    if (E / config.n_group < 2) bad("experts per group", ">= 2 (noaux_tc sums the top 2)", E / config.n_group);
  }
  scores_.resize(static_cast<size_t>(E));
  choice_.resize(static_cast<size_t>(E));
  order_.resize(static_cast<size_t>(E));
  group_scores_.resize(static_cast<size_t>(std::max<int64_t>(config.n_group, 1)));
  group_order_.resize(group_scores_.size());
}

void MoeRouter::Route(const float* logits, int64_t T, int32_t* experts, float* weights) const {
  const int64_t E = config_.n_routed_experts, k = config_.experts_per_token;
  float* scores = scores_.data();
  float* choice = choice_.data();
  for (int64_t t = 0; t < T; ++t) {
    const float* lg = logits + t * E;
    int32_t* idx = experts + t * k;
    float* w = weights + t * k;
    std::copy_n(lg, E, scores);
    if (config_.scoring == MoeScoring::kSoftmax) {
      kernels::SoftmaxRow(scores, E);
    } else {
      for (int64_t e = 0; e < E; ++e) scores[e] = 1.0f / (1.0f + std::exp(-scores[e]));
    }

    if (config_.topk_method == MoeTopkMethod::kGreedy) {
      TopK(scores, E, k, order_.data(), idx);
    } else {
      // Grouped selection: score each group, keep the best topk_group, zero the rest (0.0, not
      // -inf, exactly as the official masked_fill), then top-k over what remains.
      const bool noaux = config_.topk_method == MoeTopkMethod::kNoauxTc;
      for (int64_t e = 0; e < E; ++e) choice[e] = noaux ? scores[e] + bias_[static_cast<size_t>(e)] : scores[e];
      const int64_t G = config_.n_group, per = E / G;
      for (int64_t g = 0; g < G; ++g) {
        const float* s = choice + g * per;
        if (noaux) {  // sum of the group's top 2
          float a = -INFINITY, b = -INFINITY;
          for (int64_t i = 0; i < per; ++i) {
            if (s[i] > a) { b = a; a = s[i]; } else if (s[i] > b) { b = s[i]; }
          }
          group_scores_[static_cast<size_t>(g)] = a + b;
        } else {  // group max
          group_scores_[static_cast<size_t>(g)] = *std::max_element(s, s + per);
        }
      }
      int32_t* kept = group_order_.data();
      std::vector<int32_t>& order = order_;
      TopK(group_scores_.data(), G, config_.topk_group, order.data(), kept);
      for (int64_t g = 0; g < G; ++g) {
        if (std::find(kept, kept + config_.topk_group, static_cast<int32_t>(g)) != kept + config_.topk_group) continue;
        std::fill_n(choice + g * per, per, 0.0f);
      }
      TopK(choice, E, k, order.data(), idx);
    }

    // Weights come from the unbiased scores (for noaux_tc the bias only steers the choice).
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      w[j] = scores[idx[j]];
      sum += w[j];
    }
    if (k > 1 && config_.norm_topk_prob) {
      const float denom = sum + 1e-20f;
      for (int64_t j = 0; j < k; ++j) w[j] = w[j] / denom * config_.routed_scaling_factor;
    } else {
      for (int64_t j = 0; j < k; ++j) w[j] *= config_.routed_scaling_factor;
    }
  }
}

}  // namespace dsvl
