#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "dsvl/error.h"

namespace dsvl {
namespace {

void CheckSetting(bool ok, const char* name, const char* expected, double actual) {
  if (!ok) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"sampling", name, expected, std::to_string(actual), ""});
  }
}

}  // namespace

int64_t Argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

Sampler::Sampler(const SamplerConfig& config, int64_t vocab_size)
    : config_(config), vocab_(vocab_size), rng_(config.seed) {
  CheckSetting(vocab_size > 0, "vocab_size", "> 0", static_cast<double>(vocab_size));
  CheckSetting(std::isfinite(config.temperature), "temperature", "a finite number", config.temperature);
  CheckSetting(config.top_p > 0.0f && config.top_p <= 1.0f, "top_p", "in (0, 1]", config.top_p);
  CheckSetting(config.top_k >= 0, "top_k", ">= 0", static_cast<double>(config.top_k));
  CheckSetting(config.min_p >= 0.0f && config.min_p <= 1.0f, "min_p", "in [0, 1]", config.min_p);
  CheckSetting(config.repetition_penalty > 0.0f && std::isfinite(config.repetition_penalty),
               "repetition_penalty", "> 0", config.repetition_penalty);
  order_.reserve(vocab_size);
  probs_.reserve(vocab_size);
  if (config.repetition_penalty != 1.0f) seen_.assign(vocab_size, 0);
}

void Sampler::ApplyRepetitionPenalty(float* logits, const int64_t* history, int64_t n) {
  const float r = config_.repetition_penalty;
  // HF gathers the score of every id in the history and scatters the penalised value back, so an
  // id that occurs several times is still penalised once.
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = history[i];
    if (id < 0 || id >= vocab_ || seen_[id]) continue;
    seen_[id] = 1;
    logits[id] = logits[id] < 0.0f ? logits[id] * r : logits[id] / r;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (history[i] >= 0 && history[i] < vocab_) seen_[history[i]] = 0;
  }
}

double Sampler::Uniform() {
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

int64_t Sampler::Sample(float* logits, const int64_t* history, int64_t history_len) {
  if (config_.repetition_penalty != 1.0f && history_len > 0) {
    ApplyRepetitionPenalty(logits, history, history_len);
  }
  if (greedy()) return Argmax(logits, vocab_);

  const float inv_t = 1.0f / config_.temperature;
  for (int64_t i = 0; i < vocab_; ++i) logits[i] *= inv_t;
  auto better = [logits](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };

  int64_t n = vocab_;
  if (config_.top_k > 0 && config_.top_k < vocab_) {
    // Only the k best (and the ones tying the k-th: HF masks logits < the k-th largest) are ordered.
    order_.resize(vocab_);
    for (int64_t i = 0; i < vocab_; ++i) order_[i] = i;
    n = config_.top_k;
    std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), better);
    const float kth = logits[order_[n - 1]];
    auto tail_end = std::partition(order_.begin() + n, order_.end(),
                                   [logits, kth](int64_t id) { return logits[id] >= kth; });
    const int64_t ties = tail_end - (order_.begin() + n);
    std::sort(order_.begin() + n, tail_end);
    n += ties;
    order_.resize(n);
    // Softmax over the survivors (the masked tokens have probability 0, as with -inf in HF).
    probs_.resize(n);
    const double max_logit = logits[order_[0]];
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      probs_[i] = std::exp(static_cast<double>(logits[order_[i]]) - max_logit);
      sum += probs_[i];
    }
    for (int64_t i = 0; i < n; ++i) probs_[i] /= sum;
  } else {
    // Softmax over the whole vocabulary in id order.
    probs_.resize(vocab_);
    float max_logit = logits[0];
    for (int64_t i = 1; i < vocab_; ++i) max_logit = std::max(max_logit, logits[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < vocab_; ++i) {
      probs_[i] = std::exp(logits[i] - max_logit);  // f32 exp, as torch softmax on f32 logits
      sum += probs_[i];
    }
    const double inv_sum = 1.0 / sum;
    if (config_.top_p >= 1.0f && config_.min_p <= 0.0f) {
      // Plain temperature sampling needs no order: draw over the ids as they are.
      const double u = Uniform() * sum;
      double acc = 0.0;
      for (int64_t i = 0; i < vocab_; ++i) {
        acc += probs_[i];
        if (u < acc) return i;
      }
      return Argmax(logits, vocab_);
    }
    // Sorting the whole vocabulary per token would cost more than a decode step, so only the ids
    // that can survive are sorted. top-p: an id with p <= (1 - top_p) / V has a tail mass (its own
    // and every less likely id's) of at most V * p <= 1 - top_p, so HF removes it. min-p removes
    // p < min_p * p_max. Half of each bound keeps the pre-filter clear of rounding; the exact tests
    // below decide.
    double floor_p = 0.0;
    if (config_.top_p < 1.0f) floor_p = 0.5 * (1.0 - static_cast<double>(config_.top_p)) / static_cast<double>(vocab_);
    if (config_.min_p > 0.0f) floor_p = std::max(floor_p, 0.5 * static_cast<double>(config_.min_p) * inv_sum);
    order_.clear();
    for (int64_t i = 0; i < vocab_; ++i) {
      if (probs_[i] * inv_sum >= floor_p) order_.push_back(i);
    }
    std::sort(order_.begin(), order_.end(), better);
    n = static_cast<int64_t>(order_.size());
    // probs_ becomes the candidates' probabilities in order (normalised over the whole vocabulary:
    // the filtered ids still count in the total mass).
    for (int64_t i = 0; i < n; ++i) {
      probs_[i] = static_cast<double>(std::exp(logits[order_[i]] - max_logit)) * inv_sum;
    }
    probs_.resize(n);
  }

  if (config_.top_p < 1.0f) {
    // HF removes the tokens whose ascending cumulative mass is <= 1 - top_p, i.e. keeps the head
    // of the descending list up to and including the token that brings the mass to top_p.
    double cum = 0.0;
    int64_t keep = n;
    for (int64_t i = 0; i < n; ++i) {
      const double tail_from_here = 1.0 - cum;  // ascending cumulative mass ending at token i
      if (i > 0 && tail_from_here <= 1.0 - static_cast<double>(config_.top_p)) {
        keep = i;
        break;
      }
      cum += probs_[i];
    }
    n = keep;
  }
  if (config_.min_p > 0.0f) {
    const double threshold = static_cast<double>(config_.min_p) * probs_[0];
    int64_t keep = 1;
    while (keep < n && probs_[keep] >= threshold) ++keep;
    n = keep;
  }

  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += probs_[i];
  const double u = Uniform() * total;
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    acc += probs_[i];
    if (u < acc) return order_[i];
  }
  return order_[n - 1];
}

float TopLogprobs(const float* logits, int64_t n, int64_t id, int64_t k,
                  std::vector<int64_t>& scratch, std::vector<TopLogprob>& out) {
  float max_v = logits[0];
  for (int64_t i = 1; i < n; ++i) max_v = std::max(max_v, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max_v);
  const double log_z = max_v + std::log(sum);
  out.clear();
  k = std::min(k, n);
  if (k > 0) {
    scratch.resize(n);
    for (int64_t i = 0; i < n; ++i) scratch[i] = i;
    std::partial_sort(scratch.begin(), scratch.begin() + k, scratch.end(), [logits](int64_t a, int64_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int64_t i = 0; i < k; ++i) {
      out.push_back({scratch[i], static_cast<float>(logits[scratch[i]] - log_z)});
    }
  }
  return static_cast<float>(logits[id] - log_z);
}

}  // namespace dsvl
