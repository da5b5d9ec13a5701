// StepScheduler: passes submitted from several threads run as shared ForwardBatch steps, and every
// sequence gets bitwise what it gets alone (greedy ids and logits); a failing pass fails only its
// own caller; held-back steps (model mutex taken, as by image encoding) batch everything queued;
// YieldModel lends the held model to one step.
#include "runtime/step_scheduler.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../llm/tiny_checkpoint.h"
#include "dsvl/error.h"
#include "greedy_batch.h"

namespace dsvl {
namespace {

using Built = test::BuiltDecoder;
Built Build(const LlmConfig& c, const std::string& tag) { return test::BuildDecoder(c, tag); }

std::vector<float> Embeds(const LanguageModel& lm, int64_t n, uint32_t seed) { return test::RandomEmbeds(lm, n, seed); }

// The greedy loop of test::GreedyAlone, with every pass going through the scheduler.
test::GreedyRun GreedyThroughScheduler(StepScheduler& s, const LanguageModel& lm, const std::vector<float>& prompt,
                                       int64_t new_tokens, int64_t chunk) {
  const int64_t H = lm.config().hidden_size, n = static_cast<int64_t>(prompt.size()) / H;
  std::unique_ptr<KvCache> cache = lm.NewCache(n + new_tokens);
  std::vector<float> logits(static_cast<size_t>(lm.config().vocab_size)), row(static_cast<size_t>(H));
  for (int64_t c0 = 0; c0 < n; c0 += chunk)
    s.Forward(*cache, prompt.data() + c0 * H, std::min(chunk, n - c0), logits.data());
  test::GreedyRun r;
  for (;;) {
    r.ids.push_back(test::GreedyArgmax(logits));
    r.logits.push_back(logits);
    if (static_cast<int64_t>(r.ids.size()) == new_tokens) break;
    lm.Embed(&r.ids.back(), 1, row.data());
    s.Forward(*cache, row.data(), 1, logits.data());
  }
  return r;
}

void WaitQueued(const StepScheduler& s, int64_t n) {
  while (s.queued() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

class StepSchedulerTest : public ::testing::TestWithParam<int> {
 protected:
  LlmConfig Config() const { return GetParam() == 0 ? test::TinyLlamaConfig() : test::TinyMlaMoeConfig(12); }
  ThreadPool pool_{2};
};

TEST_P(StepSchedulerTest, ConcurrentCallersGetWhatTheyGetAlone) {
  Built b = Build(Config(), "sched" + std::to_string(GetParam()));
  const int64_t kNew = 10, kChunk = 4;
  const std::vector<int64_t> lengths = {6, 11, 3, 9};
  std::vector<std::vector<float>> prompts;
  for (size_t i = 0; i < lengths.size(); ++i) prompts.push_back(Embeds(*b.lm, lengths[i], 70 + static_cast<uint32_t>(i)));
  std::vector<test::GreedyRun> alone;
  for (const auto& p : prompts) alone.push_back(test::GreedyAlone(pool_, *b.lm, {p, 0}, kNew, kChunk));

  std::mutex model_mu;
  StepScheduler sched(*b.lm, pool_, model_mu);
  std::vector<test::GreedyRun> got(prompts.size());
  {
    // Hold the model until every caller's first pass is queued: the first step then takes all of
    // them (prefill chunks of four sequences), later steps mix decode rows and chunks.
    std::unique_lock<std::mutex> hold(model_mu);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < prompts.size(); ++i)
      threads.emplace_back([&, i] { got[i] = GreedyThroughScheduler(sched, *b.lm, prompts[i], kNew, kChunk); });
    WaitQueued(sched, static_cast<int64_t>(prompts.size()));
    hold.unlock();
    for (std::thread& t : threads) t.join();
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(got[i].ids, alone[i].ids) << "sequence " << i;
    ASSERT_EQ(got[i].logits.size(), alone[i].logits.size());
    for (size_t t = 0; t < got[i].logits.size(); ++t)
      EXPECT_EQ(std::memcmp(got[i].logits[t].data(), alone[i].logits[t].data(), got[i].logits[t].size() * sizeof(float)),
                0)
          << "sequence " << i << " step " << t;
  }
  const StepScheduler::Stats st = sched.stats();
  EXPECT_EQ(st.max_items, static_cast<int64_t>(prompts.size()));
  int64_t rows = 0;
  for (int64_t n : lengths) rows += n + kNew - 1;
  EXPECT_EQ(st.rows, rows);
  EXPECT_LT(st.steps, rows);  // passes were shared
}

// Three passes in one step, the middle one overflowing its cache: it alone fails (with the model's
// capacity error), the others complete with the results they get alone, and its cache is unchanged.
TEST_P(StepSchedulerTest, AFailingPassFailsOnlyItsCaller) {
  Built b = Build(Config(), "schedfail" + std::to_string(GetParam()));
  LanguageModel& lm = *b.lm;
  const int64_t V = lm.config().vocab_size;
  const std::vector<float> e = Embeds(lm, 6, 5);
  std::vector<std::unique_ptr<KvCache>> caches;
  for (int64_t cap : {6, 3, 6}) caches.push_back(lm.NewCache(cap));
  std::vector<std::vector<float>> logits(3, std::vector<float>(static_cast<size_t>(V)));
  std::vector<std::string> errors(3);

  std::mutex model_mu;
  StepScheduler sched(lm, pool_, model_mu);
  {
    std::unique_lock<std::mutex> hold(model_mu);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < 3; ++i)
      threads.emplace_back([&, i] {
        try {
          sched.Forward(*caches[i], e.data(), i == 1 ? 5 : 4, logits[i].data());
        } catch (const Error& err) {
          errors[i] = err.what();
        }
      });
    WaitQueued(sched, 3);
    hold.unlock();
    for (std::thread& t : threads) t.join();
  }
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[2], "");
  EXPECT_NE(errors[1].find("capacity"), std::string::npos) << errors[1];
  EXPECT_EQ(caches[0]->size(), 4);
  EXPECT_EQ(caches[1]->size(), 0);
  EXPECT_EQ(caches[2]->size(), 4);
  auto alone_cache = lm.NewCache(6);
  std::vector<float> want(static_cast<size_t>(V));
  const SequenceBatchItem it{alone_cache.get(), e.data(), 4, want.data(), nullptr};
  lm.ForwardBatch(pool_, {&it, 1});
  for (size_t i : {size_t{0}, size_t{2}})
    EXPECT_EQ(std::memcmp(logits[i].data(), want.data(), want.size() * sizeof(float)), 0) << "caller " << i;
}

// Prefill chunks beyond the per-step row budget wait for a later step; decode rows never wait.
TEST_P(StepSchedulerTest, PrefillRowsPerStepAreBounded) {
  Built b = Build(Config(), "schedbudget" + std::to_string(GetParam()));
  LanguageModel& lm = *b.lm;
  const std::vector<float> e = Embeds(lm, 6, 8);
  std::vector<std::unique_ptr<KvCache>> caches;
  for (int i = 0; i < 4; ++i) caches.push_back(lm.NewCache(8));
  std::mutex model_mu;
  StepScheduler sched(lm, pool_, model_mu, StepSchedulerOptions{8});
  {
    std::unique_lock<std::mutex> hold(model_mu);
    std::vector<std::thread> threads;
    // Two chunks of 5 rows (only one fits the budget of 8) and two decode-sized rows.
    const int64_t rows[4] = {5, 5, 1, 1};
    for (size_t i = 0; i < 4; ++i)
      threads.emplace_back([&, i] { sched.Forward(*caches[i], e.data(), rows[i], nullptr); });
    WaitQueued(sched, 4);
    hold.unlock();
    for (std::thread& t : threads) t.join();
  }
  const StepScheduler::Stats st = sched.stats();
  EXPECT_EQ(st.steps, 2);
  EXPECT_EQ(st.max_items, 3);
  EXPECT_EQ(st.rows, 12);
}

// With every sequence registered as running, each step waits for all of their passes: four
// sequences of 3 prompt rows and 5 decode rows take exactly 6 steps of 4 items (a long gather
// wait makes this independent of thread timing), and still get what they get alone.
TEST_P(StepSchedulerTest, RunningSequencesShareEveryStep) {
  Built b = Build(Config(), "schedgather" + std::to_string(GetParam()));
  LanguageModel& lm = *b.lm;
  const int64_t K = 4, kNew = 6, kPrompt = 3;
  std::mutex model_mu;
  StepSchedulerOptions o;
  o.gather_wait = std::chrono::seconds(30);
  StepScheduler sched(lm, pool_, model_mu, o);
  std::vector<std::vector<float>> prompts;
  std::vector<std::optional<StepScheduler::Active>> running(K);
  for (int64_t i = 0; i < K; ++i) {
    prompts.push_back(Embeds(lm, kPrompt, 90 + static_cast<uint32_t>(i)));
    running[static_cast<size_t>(i)].emplace(sched);
  }
  std::vector<test::GreedyRun> got(K);
  std::vector<std::thread> threads;
  for (int64_t i = 0; i < K; ++i)
    threads.emplace_back([&, i] {
      got[static_cast<size_t>(i)] = GreedyThroughScheduler(sched, lm, prompts[static_cast<size_t>(i)], kNew, kPrompt);
      running[static_cast<size_t>(i)].reset();
    });
  for (std::thread& t : threads) t.join();
  const StepScheduler::Stats st = sched.stats();
  EXPECT_EQ(st.steps, kNew);  // the prompt step, then kNew - 1 decode steps
  EXPECT_EQ(st.max_items, K);
  EXPECT_EQ(st.rows, K * (kPrompt + kNew - 1));
  for (int64_t i = 0; i < K; ++i)
    EXPECT_EQ(got[static_cast<size_t>(i)].ids, test::GreedyAlone(pool_, lm, {prompts[static_cast<size_t>(i)], 0}, kNew, kPrompt).ids);
}

// YieldModel (image encoding between tower blocks): with a pass queued, the model is lent to
// exactly the step that runs it and taken back; with nothing queued it is kept and no step runs.
TEST_P(StepSchedulerTest, YieldModelLendsTheModelToOneStep) {
  Built b = Build(Config(), "schedyield" + std::to_string(GetParam()));
  LanguageModel& lm = *b.lm;
  const int64_t V = lm.config().vocab_size;
  std::mutex model_mu;
  StepScheduler sched(lm, pool_, model_mu);
  const std::vector<float> e = Embeds(lm, 3, 11);
  auto cache = lm.NewCache(8);
  std::vector<float> logits(static_cast<size_t>(V));
  std::atomic<bool> pass_done{false};

  std::unique_lock<std::mutex> model(model_mu);
  sched.YieldModel(model);  // nothing queued: returns holding the model, no step
  EXPECT_TRUE(model.owns_lock());
  EXPECT_EQ(sched.stats().steps, 0);
  std::thread caller([&] {
    sched.Forward(*cache, e.data(), 3, logits.data());
    pass_done = true;
  });
  WaitQueued(sched, 1);  // the pass waits for the model held here
  EXPECT_FALSE(pass_done.load());
  sched.YieldModel(model);  // returns once a step (this pass's) has run
  EXPECT_TRUE(model.owns_lock());
  EXPECT_EQ(sched.stats().steps, 1);
  EXPECT_EQ(sched.queued(), 0);
  EXPECT_EQ(cache->size(), 3);
  model.unlock();
  caller.join();
  EXPECT_TRUE(pass_done.load());
  EXPECT_EQ(sched.stats().steps, 1);
}

// The lender gets the model back after ONE step even while more passes wait: three chunks that
// take a step each (row budget 3), and each YieldModel lets exactly one of them run.
TEST_P(StepSchedulerTest, YieldModelTakesTheModelBackAfterOneStep) {
  Built b = Build(Config(), "schedreclaim" + std::to_string(GetParam()));
  LanguageModel& lm = *b.lm;
  std::mutex model_mu;
  StepScheduler sched(lm, pool_, model_mu, StepSchedulerOptions{3});
  const std::vector<float> e = Embeds(lm, 3, 12);
  std::vector<std::unique_ptr<KvCache>> caches;
  for (int i = 0; i < 3; ++i) caches.push_back(lm.NewCache(4));

  std::unique_lock<std::mutex> model(model_mu);
  std::vector<std::thread> callers;
  for (size_t i = 0; i < 3; ++i) callers.emplace_back([&, i] { sched.Forward(*caches[i], e.data(), 3, nullptr); });
  WaitQueued(sched, 3);
  for (int64_t k = 1; k <= 3; ++k) {
    sched.YieldModel(model);
    EXPECT_EQ(sched.stats().steps, k);
    EXPECT_EQ(sched.queued(), 3 - k);
  }
  model.unlock();
  for (std::thread& t : callers) t.join();
  for (const auto& c : caches) EXPECT_EQ(c->size(), 3);
}

TEST_P(StepSchedulerTest, RejectsEmptyPasses) {
  Built b = Build(Config(), "schedbad" + std::to_string(GetParam()));
  std::mutex model_mu;
  StepScheduler sched(*b.lm, pool_, model_mu);
  auto cache = b.lm->NewCache(4);
  const std::vector<float> e = Embeds(*b.lm, 1, 1);
  EXPECT_THROW(sched.Forward(*cache, e.data(), 0, nullptr), Error);
  EXPECT_THROW(sched.Forward(*cache, nullptr, 1, nullptr), Error);
  EXPECT_THROW(StepScheduler(*b.lm, pool_, model_mu, StepSchedulerOptions{0}), Error);
  EXPECT_EQ(cache->size(), 0);
}

INSTANTIATE_TEST_SUITE_P(Models, StepSchedulerTest, ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<int>& i) { return std::string(i.param == 0 ? "LlamaGqa" : "MlaMoe"); });

}  // namespace
}  // namespace dsvl
