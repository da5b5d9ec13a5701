// LanguageModel::ForwardBatch: several sequences advanced in one pass (decode rows and prefill
// chunks stacked) must give each sequence bitwise what it gets alone, for Llama MHA (GQA), MLA with
// noaux_tc MoE, and MLA with q_lora and greedy softmax MoE, with f32 and bf16 caches; greedy
// decoding of several sequences batched must pick the same ids as each sequence alone; bad batches
// are rejected before any cache changes.
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "greedy_batch.h"
#include "llm/kv_cache.h"
#include "llm/language_model.h"
#include "tiny_checkpoint.h"

namespace dsvl {
namespace {

using Built = test::BuiltDecoder;
Built Build(const LlmConfig& c, const std::string& tag) { return test::BuildDecoder(c, tag); }

std::vector<float> Embeds(const LanguageModel& lm, int64_t n, uint32_t seed) { return test::RandomEmbeds(lm, n, seed); }

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// One sequence's passes: the row counts it is fed, pass by pass (0 = idle in that batched step).
struct Script {
  std::vector<int64_t> passes;
  int64_t total() const {
    int64_t t = 0;
    for (int64_t n : passes) t += n;
    return t;
  }
};

// Outputs of every non-idle pass of one sequence: last-row logits and all hidden rows.
struct PassOutputs {
  std::vector<std::vector<float>> logits, hidden;
};

class BatchedDecoderTest : public ::testing::TestWithParam<std::tuple<int, DType>> {
 protected:
  LlmConfig Config() const { return test::TinyDecoderVariant(std::get<0>(GetParam())); }
  Built BuildModel(const std::string& tag) {
    Built b = Build(Config(), tag + std::to_string(std::get<0>(GetParam())));
    b.lm->set_kv_dtype(std::get<1>(GetParam()));
    return b;
  }
  ThreadPool pool_{2};
};

// Runs the scripts: batched (all sequences with a pass in step s go into one ForwardBatch) or each
// sequence alone (its passes one by one, each a one-item ForwardBatch). Inputs are each sequence's
// own embeddings, consumed in order.
std::vector<PassOutputs> RunScripts(ThreadPool& pool, LanguageModel& lm, const std::vector<Script>& scripts,
                                    const std::vector<std::vector<float>>& embeds, bool batched) {
  const int64_t H = lm.config().hidden_size, V = lm.config().vocab_size;
  std::vector<std::unique_ptr<KvCache>> caches;
  for (const Script& s : scripts) caches.push_back(lm.NewCache(s.total() + 3));
  std::vector<PassOutputs> out(scripts.size());
  std::vector<int64_t> consumed(scripts.size(), 0);
  size_t steps = 0;
  for (const Script& s : scripts) steps = std::max(steps, s.passes.size());
  auto item_for = [&](size_t i, size_t step) {
    const int64_t n = scripts[i].passes[step];
    PassOutputs& o = out[i];
    o.logits.emplace_back(static_cast<size_t>(V), -1.0f);
    o.hidden.emplace_back(static_cast<size_t>(n * H), -1.0f);
    SequenceBatchItem it;
    it.cache = caches[i].get();
    it.embeds = embeds[i].data() + consumed[i] * H;
    it.n = n;
    it.logits_out = o.logits.back().data();
    it.hidden_out = o.hidden.back().data();
    consumed[i] += n;
    return it;
  };
  if (batched) {
    for (size_t step = 0; step < steps; ++step) {
      std::vector<SequenceBatchItem> items;
      for (size_t i = 0; i < scripts.size(); ++i)
        if (step < scripts[i].passes.size() && scripts[i].passes[step] > 0) items.push_back(item_for(i, step));
      lm.ForwardBatch(pool, items);
    }
  } else {
    for (size_t i = 0; i < scripts.size(); ++i)
      for (size_t step = 0; step < scripts[i].passes.size(); ++step)
        if (scripts[i].passes[step] > 0) {
          const SequenceBatchItem it = item_for(i, step);
          lm.ForwardBatch(pool, {&it, 1});
        }
  }
  for (size_t i = 0; i < scripts.size(); ++i) EXPECT_EQ(caches[i]->size(), scripts[i].total());
  return out;
}

// Four sequences of different lengths; prefill chunks of several sizes (1 to 9 rows, so both the
// GEMV and the GEMM regimes of the kernels) share steps with other sequences' decode rows.
TEST_P(BatchedDecoderTest, MixedPrefillAndDecodeEqualsAloneBitwise) {
  Built b = BuildModel("batchmix");
  const std::vector<Script> scripts = {
      {{5, 1, 1, 1, 1, 1, 1}},        // prefill 5, then decode
      {{4, 5, 1, 1, 1, 1}},           // prefill in two chunks
      {{0, 3, 1, 1, 0, 1, 1}},        // joins later, idles one step
      {{0, 0, 9, 2, 6, 1, 1, 1}},     // long prompt in three chunks among decoders
  };
  std::vector<std::vector<float>> embeds;
  for (size_t i = 0; i < scripts.size(); ++i)
    embeds.push_back(Embeds(*b.lm, scripts[i].total(), 100 + static_cast<uint32_t>(i)));

  const std::vector<PassOutputs> alone = RunScripts(pool_, *b.lm, scripts, embeds, false);
  const std::vector<PassOutputs> batched = RunScripts(pool_, *b.lm, scripts, embeds, true);
  for (size_t i = 0; i < scripts.size(); ++i) {
    ASSERT_EQ(alone[i].logits.size(), batched[i].logits.size());
    for (size_t p = 0; p < alone[i].logits.size(); ++p) {
      EXPECT_TRUE(SameBits(alone[i].logits[p], batched[i].logits[p])) << "sequence " << i << " pass " << p;
      EXPECT_TRUE(SameBits(alone[i].hidden[p], batched[i].hidden[p])) << "sequence " << i << " pass " << p;
    }
  }
}

// A one-item ForwardBatch is the single-sequence Forward (same chunks, same last-row logits).
TEST_P(BatchedDecoderTest, OneItemEqualsForward) {
  Built b = BuildModel("batchone");
  const int64_t T = 13, H = b.lm->config().hidden_size, V = b.lm->config().vocab_size;
  const std::vector<float> e = Embeds(*b.lm, T, 5);
  auto c1 = b.lm->NewCache(T), c2 = b.lm->NewCache(T);
  b.lm->set_prefill_chunk(512);
  for (int64_t pos = 0; pos < T;) {
    const int64_t n = pos == 0 ? 8 : 1;
    std::vector<float> want(static_cast<size_t>(V)), got(static_cast<size_t>(V));
    std::vector<float> want_h(static_cast<size_t>(n * H)), got_h(want_h.size());
    ForwardRequest req;
    req.embeds = e.data() + pos * H;
    req.n = n;
    req.logits_out = want.data();
    req.hidden_out = want_h.data();
    b.lm->Forward(pool_, *c1, req);
    SequenceBatchItem it{c2.get(), e.data() + pos * H, n, got.data(), got_h.data()};
    b.lm->ForwardBatch(pool_, {&it, 1});
    EXPECT_TRUE(SameBits(want, got)) << "position " << pos;
    EXPECT_TRUE(SameBits(want_h, got_h)) << "position " << pos;
    pos += n;
  }
}

// Greedy decoding: three prompts of different lengths. Alone: the classic loop (Forward over the
// prompt, then one-row Forwards). Batched: the second prompt is admitted while the first already
// decodes, the third later still, in prefill chunks of 4; every step is one ForwardBatch holding a
// decode row of every running sequence. Ids and the logits they come from must be the same.
TEST_P(BatchedDecoderTest, GreedyBatchedEqualsAlone) {
  Built b = BuildModel("batchgreedy");
  std::vector<test::GreedyPrompt> prompts = {{Embeds(*b.lm, 6, 40), 0}, {Embeds(*b.lm, 11, 41), 2},
                                             {Embeds(*b.lm, 3, 42), 5}};
  const int64_t kNew = 8, kChunk = 4;
  const std::vector<test::GreedyRun> batched = test::GreedyBatched(pool_, *b.lm, prompts, kNew, kChunk);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const test::GreedyRun alone = test::GreedyAlone(pool_, *b.lm, prompts[i], kNew, kChunk);
    EXPECT_EQ(batched[i].ids, alone.ids) << "sequence " << i;
    ASSERT_EQ(batched[i].logits.size(), alone.logits.size());
    for (size_t t = 0; t < alone.logits.size(); ++t)
      EXPECT_TRUE(SameBits(batched[i].logits[t], alone.logits[t])) << "sequence " << i << " step " << t;
  }
}

// Bad batches throw a dsvl error before any cache row is written: every cache keeps its size.
TEST_P(BatchedDecoderTest, RejectsBadBatchesWithoutTouchingCaches) {
  Built b = BuildModel("batchbad");
  LanguageModel& lm = *b.lm;
  const std::vector<float> e = Embeds(lm, 8, 3);
  auto a = lm.NewCache(8), c = lm.NewCache(4);
  SequenceBatchItem first{a.get(), e.data(), 2, nullptr, nullptr};
  lm.ForwardBatch(pool_, {&first, 1});
  ASSERT_EQ(a->size(), 2);

  auto expect_error = [&](std::vector<SequenceBatchItem> items, ErrorCode code, const char* needle) {
    try {
      lm.ForwardBatch(pool_, items);
      ADD_FAILURE() << "expected an error mentioning " << needle;
    } catch (const Error& err) {
      EXPECT_EQ(err.code(), code) << err.what();
      EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
    }
    EXPECT_EQ(a->size(), 2);
    EXPECT_EQ(c->size(), 0);
  };
  // The same cache twice.
  expect_error({{a.get(), e.data(), 1, nullptr, nullptr}, {a.get(), e.data(), 1, nullptr, nullptr}},
               ErrorCode::kInvalidArgument, "item 0");
  // The second item overflows its cache (4 rows): the first item's rows must not be committed.
  expect_error({{a.get(), e.data(), 1, nullptr, nullptr}, {c.get(), e.data(), 5, nullptr, nullptr}},
               ErrorCode::kLimitExceeded, "capacity");
  expect_error({{a.get(), e.data(), 1, nullptr, nullptr}, {nullptr, e.data(), 1, nullptr, nullptr}},
               ErrorCode::kInvalidArgument, "SequenceBatchItem 1");
  expect_error({{c.get(), e.data(), 0, nullptr, nullptr}}, ErrorCode::kInvalidArgument, "SequenceBatchItem 0");
  expect_error({{c.get(), nullptr, 1, nullptr, nullptr}}, ErrorCode::kInvalidArgument, "embeds");

  // A cache from another model's NewCache (other width) is refused too.
  const bool mha = Config().attention == AttentionKind::kMha;
  Built other = Build(mha ? test::TinyMlaMoeConfig(0) : test::TinyLlamaConfig(), "batchother");
  auto foreign = other.lm->NewCache(8);
  expect_error({{a.get(), e.data(), 1, nullptr, nullptr}, {foreign.get(), e.data(), 1, nullptr, nullptr}},
               ErrorCode::kInvalidArgument, "NewCache");
  EXPECT_EQ(foreign->size(), 0);

  // An empty batch does nothing.
  lm.ForwardBatch(pool_, {});
  EXPECT_EQ(a->size(), 2);
}

INSTANTIATE_TEST_SUITE_P(Models, BatchedDecoderTest,
                         ::testing::Combine(::testing::Values(0, 1, 2), ::testing::Values(DType::kF32, DType::kBF16)),
                         [](const ::testing::TestParamInfo<std::tuple<int, DType>>& i) {
                           const int m = std::get<0>(i.param);
                           return std::string(m == 0 ? "LlamaGqa" : m == 1 ? "MlaNoauxTc" : "MlaQLoraGreedy") +
                                  (std::get<1>(i.param) == DType::kF32 ? "F32Cache" : "Bf16Cache");
                         });

}  // namespace
}  // namespace dsvl
