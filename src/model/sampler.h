// Next-token selection from one row of logits, following the order Hugging Face `generate` applies
// its processors: repetition penalty, then temperature, top-k, top-p, min-p, then a draw (or argmax
// when greedy). All scratch space is owned by the Sampler and sized once, so the decode loop does no
// heap allocation per token.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace dsvl {

struct SamplerConfig {
  float temperature = 0.0f;         // <= 0: greedy (argmax), the other knobs except the penalty unused
  float top_p = 1.0f;               // nucleus mass, (0, 1]
  int64_t top_k = 0;                // 0: off
  float min_p = 0.0f;               // 0: off; keeps p >= min_p * p_max
  float repetition_penalty = 1.0f;  // 1: off; HF: positive logits / r, negative logits * r
  uint64_t seed = 0;
};

struct TopLogprob {
  int64_t id = 0;
  float logprob = 0.0f;
};

class Sampler {
 public:
  // Throws kInvalidArgument on out-of-range settings (naming the setting).
  Sampler(const SamplerConfig& config, int64_t vocab_size);

  // Picks the next id. `logits` [vocab] is modified in place (penalty, temperature, masking).
  // `history`: ids the repetition penalty applies to (each distinct id penalised once, as HF).
  int64_t Sample(float* logits, const int64_t* history, int64_t history_len);

  const SamplerConfig& config() const { return config_; }
  bool greedy() const { return config_.temperature <= 0.0f; }

 private:
  void ApplyRepetitionPenalty(float* logits, const int64_t* history, int64_t n);
  double Uniform();  // [0, 1), 53 random bits, identical on every platform for a given seed

  SamplerConfig config_;
  int64_t vocab_;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;   // candidate ids, sorted by logit descending
  std::vector<double> probs_;    // their probabilities
  std::vector<uint8_t> seen_;    // per-id mark for the penalty (distinct ids)
};

// Index of the largest value (the first one on ties, like torch.argmax on CPU).
int64_t Argmax(const float* logits, int64_t n);

// log_softmax(logits)[id] and the k most likely ids with their log-probabilities (descending; ties
// by lower id). `scratch` is reused between calls. Returns the log-probability of `id`.
float TopLogprobs(const float* logits, int64_t n, int64_t id, int64_t k,
                  std::vector<int64_t>& scratch, std::vector<TopLogprob>& out);

}  // namespace dsvl
