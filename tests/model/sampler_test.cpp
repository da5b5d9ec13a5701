// Sampler: Hugging Face generate() semantics (repetition penalty, then temperature, top-k, top-p,
// min-p, draw), checked by exact results where they are defined and by draw frequencies with a fixed
// seed where they are random. Frequencies use 20000 draws: the standard error of a probability is at
// most 0.0036, so the 0.02 tolerance is > 5 sigma and a wrong mask (which moves a probability by
// >= 0.05 in every case below) cannot pass.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "dsvl/error.h"

namespace dsvl {
namespace {

constexpr int kDraws = 20000;
constexpr double kTol = 0.02;

std::vector<float> LogitsFromProbs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double v : p) l.push_back(static_cast<float>(std::log(v)));
  return l;
}

// Frequency of each id over kDraws draws (the logits are copied per draw: Sample edits them).
std::vector<double> Frequencies(const SamplerConfig& cfg, const std::vector<float>& logits) {
  Sampler s(cfg, static_cast<int64_t>(logits.size()));
  std::vector<double> freq(logits.size(), 0.0);
  std::vector<float> work;
  for (int i = 0; i < kDraws; ++i) {
    work = logits;
    const int64_t id = s.Sample(work.data(), nullptr, 0);
    EXPECT_GE(id, 0);
    EXPECT_LT(id, static_cast<int64_t>(logits.size()));
    freq[id] += 1.0 / kDraws;
  }
  return freq;
}

void ExpectFrequencies(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (want[i] == 0.0) {
      EXPECT_EQ(got[i], 0.0) << "id " << i << " must never be drawn";
    } else {
      EXPECT_NEAR(got[i], want[i], kTol) << "id " << i;
    }
  }
}

SamplerConfig Sampling(float temperature) {
  SamplerConfig c;
  c.temperature = temperature;
  c.seed = 1234;
  return c;
}

TEST(Argmax, FirstOnTies) {
  const float v[] = {1.0f, 3.0f, 3.0f, 2.0f};
  EXPECT_EQ(Argmax(v, 4), 1);
  const float neg[] = {-5.0f, -1.0f, -1.0f};
  EXPECT_EQ(Argmax(neg, 3), 1);
  const float one[] = {7.0f};
  EXPECT_EQ(Argmax(one, 1), 0);
}

TEST(Sampler, GreedyIsArgmaxAndIgnoresTheOtherKnobs) {
  SamplerConfig c;  // temperature 0
  c.top_k = 1;
  c.top_p = 0.1f;
  c.min_p = 0.9f;
  Sampler s(c, 5);
  EXPECT_TRUE(s.greedy());
  std::vector<float> l = {0.1f, 0.7f, 2.5f, 2.5f, -1.0f};
  EXPECT_EQ(s.Sample(l.data(), nullptr, 0), 2);
  // Negative temperature means greedy too.
  Sampler neg(Sampling(-1.0f), 5);
  l = {0.1f, 0.7f, 2.5f, 2.5f, -1.0f};
  EXPECT_EQ(neg.Sample(l.data(), nullptr, 0), 2);
}

TEST(Sampler, TemperatureScalesTheSoftmax) {
  // softmax([1, 0] / T): T = 1 -> 0.7311, T = 0.5 -> 0.8808, T = 2 -> 0.6225.
  const std::vector<float> l = {1.0f, 0.0f};
  ExpectFrequencies(Frequencies(Sampling(1.0f), l), {0.7311, 0.2689});
  ExpectFrequencies(Frequencies(Sampling(0.5f), l), {0.8808, 0.1192});
  ExpectFrequencies(Frequencies(Sampling(2.0f), l), {0.6225, 0.3775});
}

TEST(Sampler, TopKKeepsTheKBestAndTheirTies) {
  SamplerConfig c = Sampling(1.0f);
  c.top_k = 2;
  // softmax over {2, 1}: 0.7311 / 0.2689; ids 2 and 3 masked.
  ExpectFrequencies(Frequencies(c, {2.0f, 1.0f, 0.5f, 0.0f}), {0.7311, 0.2689, 0.0, 0.0});
  // The best two in the middle of the vocabulary.
  ExpectFrequencies(Frequencies(c, {0.0f, 1.0f, 0.5f, 2.0f}), {0.0, 0.2689, 0.0, 0.7311});
  // HF masks logits < the k-th largest, so a tie with the k-th value survives: {3, 2, 2} kept.
  const double e = std::exp(1.0);
  ExpectFrequencies(Frequencies(c, {3.0f, 2.0f, 2.0f, 1.0f}), {e / (e + 2), 1 / (e + 2), 1 / (e + 2), 0.0});
  c.top_k = 1;
  ExpectFrequencies(Frequencies(c, {0.0f, 1.0f, 0.9f}), {0.0, 1.0, 0.0});
  c.top_k = 10;  // larger than the vocabulary: off
  ExpectFrequencies(Frequencies(c, LogitsFromProbs({0.5, 0.3, 0.2})), {0.5, 0.3, 0.2});
}

TEST(Sampler, TopPKeepsTheMinimalNucleus) {
  const std::vector<float> l = LogitsFromProbs({0.5, 0.3, 0.15, 0.05});
  SamplerConfig c = Sampling(1.0f);
  c.top_p = 0.4f;  // 0.5 alone reaches 0.4
  ExpectFrequencies(Frequencies(c, l), {1.0, 0.0, 0.0, 0.0});
  c.top_p = 0.75f;  // 0.5 + 0.3 >= 0.75: renormalised to 0.625 / 0.375
  ExpectFrequencies(Frequencies(c, l), {0.625, 0.375, 0.0, 0.0});
  c.top_p = 0.85f;
  ExpectFrequencies(Frequencies(c, l), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0});
  c.top_p = 1.0f;
  ExpectFrequencies(Frequencies(c, l), {0.5, 0.3, 0.15, 0.05});
}

TEST(Sampler, TopPRemovesATokenWhoseTailMassEqualsOneMinusTopP) {
  // HF: remove where the ascending cumulative mass <= 1 - top_p. Four equal logits give exact
  // quarters, so with top_p 0.75 the last token's tail mass is exactly 0.25 and it is removed
  // (ties are ordered by id, so that is the highest id).
  SamplerConfig c = Sampling(1.0f);
  c.top_p = 0.75f;
  ExpectFrequencies(Frequencies(c, {0.0f, 0.0f, 0.0f, 0.0f}), {1.0 / 3, 1.0 / 3, 1.0 / 3, 0.0});
}

TEST(Sampler, TopPWithALongTail) {
  // One id with p = 0.5 and 2000 ids sharing the other 0.5 (2.5e-4 each). top_p 0.6 removes the
  // tail ids whose ascending cumulative mass is <= 0.4 (1600 of them), so the big id is drawn
  // with 0.5 / 0.6 and about 400 tail ids share the rest. 2000 draws: sd 0.0083, tolerance 0.04.
  const int64_t vocab = 2001;
  std::vector<float> l(vocab, static_cast<float>(std::log(0.5 / (vocab - 1))));
  l[1234] = static_cast<float>(std::log(0.5));
  SamplerConfig c = Sampling(1.0f);
  c.top_p = 0.6f;
  Sampler s(c, vocab);
  int big = 0;
  std::vector<uint8_t> seen(vocab, 0);
  std::vector<float> work;
  const int draws = 2000;
  for (int i = 0; i < draws; ++i) {
    work = l;
    const int64_t id = s.Sample(work.data(), nullptr, 0);
    big += id == 1234;
    seen[id] = 1;
  }
  EXPECT_NEAR(static_cast<double>(big) / draws, 0.5 / 0.6, 0.04);
  // Ties are ordered by id, so the surviving tail ids are the lowest ~400 ids.
  int64_t highest = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (seen[i] && i != 1234) highest = i;
  }
  EXPECT_LE(highest, 401);
  EXPECT_GE(highest, 300);
}

TEST(Sampler, TopPAppliesAfterTopK) {
  const std::vector<float> l = LogitsFromProbs({0.5, 0.3, 0.15, 0.05});
  SamplerConfig c = Sampling(1.0f);
  c.top_p = 0.82f;  // alone: ascending cumsum 0.05 <= 0.18 drops only id 3
  ExpectFrequencies(Frequencies(c, l), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0});
  // After top-k 3 the survivors renormalise to 0.526/0.316/0.158, and 0.158 <= 0.18 drops id 2.
  c.top_k = 3;
  ExpectFrequencies(Frequencies(c, l), {0.625, 0.375, 0.0, 0.0});
}

TEST(Sampler, TopPAppliesAfterTemperature) {
  // T = 0.5 squares and renormalises the probabilities: {0.25, 0.09, 0.0225, 0.0025} / 0.365 =
  // {0.6849, 0.2466, 0.0616, 0.0068}; top_p 0.9 keeps the first two (0.9315).
  SamplerConfig c = Sampling(0.5f);
  c.top_p = 0.9f;
  ExpectFrequencies(Frequencies(c, LogitsFromProbs({0.5, 0.3, 0.15, 0.05})),
                    {0.6849 / 0.9315, 0.2466 / 0.9315, 0.0, 0.0});
}

TEST(Sampler, MinPKeepsTokensAboveAFractionOfTheBest) {
  const std::vector<float> l = LogitsFromProbs({0.5, 0.3, 0.15, 0.05});
  SamplerConfig c = Sampling(1.0f);
  c.min_p = 0.5f;  // threshold 0.25
  ExpectFrequencies(Frequencies(c, l), {0.625, 0.375, 0.0, 0.0});
  c.min_p = 0.2f;  // threshold 0.1
  ExpectFrequencies(Frequencies(c, l), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0});
  c.min_p = 1.0f;  // only the best
  ExpectFrequencies(Frequencies(c, l), {1.0, 0.0, 0.0, 0.0});
}

TEST(Sampler, RepetitionPenaltyHfSemantics) {
  SamplerConfig c;
  c.repetition_penalty = 2.0f;
  Sampler s(c, 5);
  std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.5f, 0.0f};
  // id 1 twice and id 0 twice: each distinct id penalised once; out-of-range ids ignored.
  const int64_t history[] = {0, 1, 1, 0, 4, -1, 99};
  EXPECT_EQ(s.Sample(l.data(), history, 7), 0);  // 1.0 ties id 2: the first wins
  EXPECT_FLOAT_EQ(l[0], 1.0f);   // positive / r
  EXPECT_FLOAT_EQ(l[1], -4.0f);  // negative * r
  EXPECT_FLOAT_EQ(l[2], 1.0f);   // not in the history
  EXPECT_FLOAT_EQ(l[3], 0.5f);
  EXPECT_FLOAT_EQ(l[4], 0.0f);
  // The marks are cleared between calls: the next call penalises once again, not twice.
  l = {2.0f, -2.0f, 1.0f, 0.5f, 0.0f};
  EXPECT_EQ(s.Sample(l.data(), history, 7), 0);
  EXPECT_FLOAT_EQ(l[0], 1.0f);
  EXPECT_FLOAT_EQ(l[1], -4.0f);
  // The penalty changes the greedy pick.
  const int64_t h2[] = {0};
  l = {2.0f, -2.0f, 1.5f, 0.5f, 0.0f};
  EXPECT_EQ(s.Sample(l.data(), h2, 1), 2);
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> base(50);
  for (int i = 0; i < 50; ++i) base[i] = static_cast<float>((i * 37) % 11) * 0.1f;
  auto run = [&](uint64_t seed) {
    SamplerConfig c = Sampling(1.0f);
    c.seed = seed;
    c.top_p = 0.95f;
    Sampler s(c, 50);
    std::vector<int64_t> ids;
    std::vector<float> l;
    for (int i = 0; i < 200; ++i) {
      l = base;
      ids.push_back(s.Sample(l.data(), nullptr, 0));
    }
    return ids;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Sampler, InvalidSettingsThrowNamingTheSetting) {
  struct Bad {
    SamplerConfig cfg;
    int64_t vocab;
    const char* name;
  };
  auto with = [](std::function<void(SamplerConfig&)> f) {
    SamplerConfig c;
    f(c);
    return c;
  };
  const std::vector<Bad> bad = {
      {with([](SamplerConfig& c) { c.top_p = 0.0f; }), 10, "top_p"},
      {with([](SamplerConfig& c) { c.top_p = 1.5f; }), 10, "top_p"},
      {with([](SamplerConfig& c) { c.top_p = std::numeric_limits<float>::quiet_NaN(); }), 10, "top_p"},
      {with([](SamplerConfig& c) { c.top_k = -1; }), 10, "top_k"},
      {with([](SamplerConfig& c) { c.min_p = -0.1f; }), 10, "min_p"},
      {with([](SamplerConfig& c) { c.min_p = 1.5f; }), 10, "min_p"},
      {with([](SamplerConfig& c) { c.repetition_penalty = 0.0f; }), 10, "repetition_penalty"},
      {with([](SamplerConfig& c) { c.repetition_penalty = -1.0f; }), 10, "repetition_penalty"},
      {with([](SamplerConfig& c) { c.repetition_penalty = std::numeric_limits<float>::infinity(); }), 10,
       "repetition_penalty"},
      {with([](SamplerConfig& c) { c.temperature = std::numeric_limits<float>::quiet_NaN(); }), 10, "temperature"},
      {with([](SamplerConfig& c) { c.temperature = std::numeric_limits<float>::infinity(); }), 10, "temperature"},
      {SamplerConfig{}, 0, "vocab_size"},
  };
  for (const Bad& b : bad) {
    try {
      Sampler s(b.cfg, b.vocab);
      ADD_FAILURE() << "no error for " << b.name;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << b.name;
      EXPECT_NE(std::string(e.what()).find(b.name), std::string::npos) << e.what();
    }
  }
}

TEST(TopLogprobs, MatchesADirectLogSoftmax) {
  const std::vector<float> l = {0.5f, -1.0f, 3.0f, 3.0f, 2.0f, -7.0f, 0.0f};
  double z = 0.0;
  for (float v : l) z += std::exp(static_cast<double>(v));
  auto lsm = [&](int64_t i) { return static_cast<double>(l[i]) - std::log(z); };
  std::vector<int64_t> scratch;
  std::vector<TopLogprob> top;
  const float lp = TopLogprobs(l.data(), 7, 5, 3, scratch, top);
  EXPECT_NEAR(lp, lsm(5), 1e-5);
  ASSERT_EQ(top.size(), 3u);
  // Descending, ties by lower id.
  EXPECT_EQ(top[0].id, 2);
  EXPECT_EQ(top[1].id, 3);
  EXPECT_EQ(top[2].id, 4);
  for (const TopLogprob& t : top) EXPECT_NEAR(t.logprob, lsm(t.id), 1e-5) << t.id;
  // k larger than the vocabulary: all of it; k = 0: none.
  TopLogprobs(l.data(), 7, 0, 100, scratch, top);
  EXPECT_EQ(top.size(), 7u);
  double total = 0.0;
  for (const TopLogprob& t : top) total += std::exp(t.logprob);
  EXPECT_NEAR(total, 1.0, 1e-5);
  EXPECT_NEAR(TopLogprobs(l.data(), 7, 2, 0, scratch, top), lsm(2), 1e-5);
  EXPECT_TRUE(top.empty());
  // Large logits do not overflow.
  const std::vector<float> big = {1000.0f, 999.0f};
  EXPECT_NEAR(TopLogprobs(big.data(), 2, 1, 1, scratch, top), -1.0 - std::log1p(std::exp(-1.0)), 1e-4);
}

}  // namespace
}  // namespace dsvl
