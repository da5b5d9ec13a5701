// Batched decoding: one LanguageModel::ForwardBatch step with K decode rows (K sequences, each with
// `kContext` cached tokens), K = 1, 2, 4, 8, on a `dsvl make-model` checkpoint; items/s = decoded
// tokens per second over all sequences. DSVL_BENCH_MODEL=<dir> uses that checkpoint (e.g. one
// written by `dsvl make-model --arch deepseek-vl2-tiny`, real shapes); otherwise the tiny stand-in of
// DSVL_BENCH_ARCH (default deepseek-vl2-tiny) is generated into a temp dir (weights fit in cache, so
// it shows overheads, not memory-bound speed).
//
// BM_LinearRows: one product with `rows` decode rows through a [8192, 4096] bf16 weight (64 MiB,
// more than a typical L3, so streamed from memory like a real layer's weights), as
// ForwardBatch queues it (stacked:0, LinearBatch::AddRows: one-row ranges merged into calls of <= 4
// rows, bitwise equal to one-row calls) vs one kernels::Linear call over all rows (stacked:1; for 8
// rows that is the blocked GEMM, whose rows are not bitwise those of one-row calls). The largest
// |difference| between the two outputs is reported as a counter.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>

#include "core/thread_pool.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "llm/language_model.h"
#include "llm/linear_batch.h"
#include "model/make_model.h"
#include "model/model_config.h"
#include "runtime/step_scheduler.h"

namespace dsvl {
namespace {

constexpr int64_t kContext = 64;

int Threads() {
  const char* env = std::getenv("DSVL_BENCH_THREADS");
  return env ? std::atoi(env) : 0;
}

struct Loaded {
  std::unique_ptr<WeightStore> weights;
  ModelConfig config;
  std::unique_ptr<LanguageModel> lm;
  std::unique_ptr<ThreadPool> pool;
};

Loaded& Model() {
  static Loaded m = [] {
    std::string dir;
    if (const char* env = std::getenv("DSVL_BENCH_MODEL")) {
      dir = env;
    } else {
      MakeModelOptions o;
      const char* arch = std::getenv("DSVL_BENCH_ARCH");
      o.arch = arch ? arch : "deepseek-vl2-tiny";
      o.tiny = true;
      o.out_dir = (std::filesystem::temp_directory_path() / ("dsvl_batch_bench_" + std::to_string(::getpid()))).string();
      MakeModel(o);
      dir = o.out_dir;
    }
    Loaded l;
    l.weights = WeightStore::Open(dir);
    l.config = LoadModelConfig(dir, *l.weights);
    l.lm = CreateLanguageModel(l.config.llm, *l.weights);
    l.pool = std::make_unique<ThreadPool>(Threads());
    if (!std::getenv("DSVL_BENCH_MODEL")) std::filesystem::remove_all(dir);  // the mmap keeps the data
    return l;
  }();
  return m;
}

void BM_ForwardBatchDecode(benchmark::State& state) {
  Loaded& m = Model();
  LanguageModel& lm = *m.lm;
  const int64_t K = state.range(0), H = lm.config().hidden_size, V = lm.config().vocab_size;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int64_t> id(0, V - 1);
  std::vector<std::unique_ptr<KvCache>> caches;
  std::vector<float> prompt(static_cast<size_t>(kContext * H)), rows(static_cast<size_t>(K * H));
  std::vector<float> logits(static_cast<size_t>(K * V));
  std::vector<int64_t> ids(static_cast<size_t>(kContext));
  for (int64_t i = 0; i < K; ++i) {
    caches.push_back(lm.NewCache(kContext + 1));
    for (int64_t& v : ids) v = id(rng);
    lm.Embed(ids.data(), kContext, prompt.data());
    SequenceBatchItem it{caches.back().get(), prompt.data(), kContext, nullptr, nullptr};
    lm.ForwardBatch(*m.pool, {&it, 1});
    const int64_t next = id(rng);
    lm.Embed(&next, 1, rows.data() + i * H);
  }
  std::vector<SequenceBatchItem> items;
  for (int64_t i = 0; i < K; ++i)
    items.push_back({caches[static_cast<size_t>(i)].get(), rows.data() + i * H, 1, logits.data() + i * V, nullptr});
  for (auto _ : state) {
    lm.ForwardBatch(*m.pool, items);
    state.PauseTiming();
    for (auto& c : caches) c->Truncate(kContext);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * K);
  state.counters["threads"] = static_cast<double>(m.pool->size());
}
BENCHMARK(BM_ForwardBatchDecode)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseRealTime()->Unit(benchmark::kMillisecond);

// The same decode steps through the model's step loop: K caller threads, each submitting one
// decode row per token to a StepScheduler and waiting for it (as concurrent Sessions do). K = 1
// against BM_ForwardBatchDecode/1 is the cost of the hand-off to the step thread; larger K shows
// how much the loop batches callers that are not synchronised with each other.
void BM_SchedulerDecode(benchmark::State& state) {
  Loaded& m = Model();
  LanguageModel& lm = *m.lm;
  const int64_t K = state.range(0), H = lm.config().hidden_size, V = lm.config().vocab_size, kTokens = 16;
  std::mutex model_mu;
  StepScheduler sched(lm, *m.pool, model_mu);
  std::vector<std::unique_ptr<KvCache>> caches;
  std::vector<float> prompt(static_cast<size_t>(kContext * H));
  std::vector<int64_t> ids(static_cast<size_t>(kContext), 1);
  lm.Embed(ids.data(), kContext, prompt.data());
  for (int64_t i = 0; i < K; ++i) {
    caches.push_back(lm.NewCache(kContext + kTokens));
    sched.Forward(*caches.back(), prompt.data(), kContext, nullptr);
  }
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int64_t i = 0; i < K; ++i)
      threads.emplace_back([&, i] {
        const StepScheduler::Active running(sched);  // as a Session's decode loop
        std::vector<float> row(static_cast<size_t>(H)), logits(static_cast<size_t>(V));
        const int64_t id = 1 + i;
        lm.Embed(&id, 1, row.data());
        for (int64_t t = 0; t < kTokens; ++t) sched.Forward(*caches[static_cast<size_t>(i)], row.data(), 1, logits.data());
      });
    for (std::thread& t : threads) t.join();
    state.PauseTiming();
    for (auto& c : caches) c->Truncate(kContext);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * K * kTokens);
  const StepScheduler::Stats st = sched.stats();
  state.counters["rows_per_step"] = static_cast<double>(st.rows - K * kContext) / static_cast<double>(st.steps - K);
}
BENCHMARK(BM_SchedulerDecode)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_LinearRows(benchmark::State& state) {
  const int64_t rows = state.range(0), mode = state.range(1), N = 8192, Kin = 4096;
  static ThreadPool pool(Threads());
  static const Tensor w = [] {
    Tensor t = Tensor::Empty(DType::kBF16, Shape{8192, 4096});
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    auto* p = static_cast<uint16_t*>(t.view().data);
    for (int64_t i = 0; i < 8192 * 4096; ++i) p[i] = F32ToBf16(nd(rng));
    return t;
  }();
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(rows * Kin)), y(static_cast<size_t>(rows * N)), y1(y.size());
  for (float& v : x) v = nd(rng);
  LinearBatch batch;
  const std::vector<RowRange> one_each = [&] {
    std::vector<RowRange> r;
    for (int64_t i = 0; i < rows; ++i) r.push_back({i, 1});
    return r;
  }();
  for (auto _ : state) {
    if (mode == 0) {
      batch.AddRows(x.data(), one_each, Kin, w.view(), y.data());
      batch.Run(pool);
    } else {
      kernels::Linear(pool, x.data(), rows, Kin, w.view(), nullptr, y.data());
    }
    benchmark::ClobberMemory();
  }
  // The two modes' outputs against each other.
  batch.AddRows(x.data(), one_each, Kin, w.view(), y1.data());
  batch.Run(pool);
  kernels::Linear(pool, x.data(), rows, Kin, w.view(), nullptr, y.data());
  double diff = 0, mag = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(y[i] - y1[i])));
    mag = std::max(mag, static_cast<double>(std::fabs(y1[i])));
  }
  state.counters["max_abs_diff"] = diff;
  state.counters["max_abs"] = mag;
  state.SetItemsProcessed(state.iterations() * rows);
  state.SetBytesProcessed(state.iterations() * N * Kin * 2);
}
BENCHMARK(BM_LinearRows)
    ->ArgsProduct({{1, 2, 4, 8}, {0, 1}})
    ->ArgNames({"rows", "stacked"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace dsvl

BENCHMARK_MAIN();
