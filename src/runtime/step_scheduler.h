// One step loop per model: callers on any thread submit forward passes (a decode row, a prefill
// chunk) for their own sequence's cache and wait; a single step thread gathers what is queued into
// ONE LanguageModel::ForwardBatch per step (every queued decode row, plus prefill chunks up to a
// row budget), so each weight is streamed once per step for all active sequences.
//
// Callers keep everything else: sampling, stop strings, logprobs and streaming run on the caller's
// thread between its passes (model/generator.cpp), so callbacks never run on the step thread, and a
// sequence that is cancelled or throws simply submits nothing more (it holds nothing in the loop).
// Because ForwardBatch gives each item bitwise what it gets alone, a sequence's results do not
// depend on which other sequences share its steps.
//
// The step holds the model mutex given at construction while it runs; whoever else uses the model's
// pool or scratch (image encoding) takes the same mutex, and is thereby serialised with the steps.
// Such long work calls YieldModel between its units (a tower block), which lends the model to one
// step when passes are waiting, so other sequences wait for one unit of it, not all of it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "llm/language_model.h"

namespace dsvl {

struct StepSchedulerOptions {
  // Prefill rows per step beside the decode rows. A chunk is never split (its rows' results would
  // change with the split), so a step with any prefill takes at least the first queued chunk.
  int64_t max_prefill_rows = 512;
  // With sequences registered as active (StepScheduler::Active), a step waits up to this long for
  // each of them to queue its next pass (its caller is sampling or streaming), so that a step
  // carries a decode row of every running sequence instead of whichever came first.
  std::chrono::microseconds gather_wait{1000};
};

class StepScheduler {
 public:
  StepScheduler(LanguageModel& lm, ThreadPool& pool, std::mutex& model_mu, StepSchedulerOptions options = {});
  ~StepScheduler();  // runs what is queued, then stops the step thread
  StepScheduler(const StepScheduler&) = delete;
  StepScheduler& operator=(const StepScheduler&) = delete;

  // Runs `n` rows (embeds [n, hidden]) at the end of `cache` in a step shared with other callers
  // and returns when they are done: logits_out [vocab] of the last row and hidden_out [n, hidden]
  // when non-null. Throws what the pass threw; a failed pass leaves the cache as it was. A cache
  // must have at most one pass in flight (one caller per sequence). Not callable from the step
  // thread (a callback of another caller never runs there).
  void Forward(KvCache& cache, const float* embeds, int64_t n, float* logits_out, float* hidden_out = nullptr);

  // Marks a sequence as running for its lifetime (a session from its first pass to its last):
  // steps wait briefly for the passes of running sequences (see gather_wait).
  class Active {
   public:
    explicit Active(StepScheduler& s);
    ~Active();
    Active(const Active&) = delete;
    Active& operator=(const Active&) = delete;

   private:
    StepScheduler& s_;
  };

  struct Stats {
    int64_t steps = 0;      // ForwardBatch passes run
    int64_t rows = 0;       // rows over all steps
    int64_t max_items = 0;  // most sequences in one step
  };
  Stats stats() const;
  int64_t queued() const;  // passes waiting for a step (tests)

  // For a caller that holds the model mutex through `model_lock` (image encoding), between units
  // of its work: when passes are queued, unlocks it, waits until a step that started after this
  // call has finished, and locks it again before the loop starts another step; otherwise returns
  // at once (one uncontended lock). An explicit handoff both ways because std::mutex is not fair:
  // a plain unlock/lock would often retake the model before the step thread wakes, and a busy
  // loop could keep it from the caller. Not callable from the step thread; model_lock must own.
  void YieldModel(std::unique_lock<std::mutex>& model_lock);

 private:
  struct Request {
    SequenceBatchItem item;
    bool done = false;
    std::exception_ptr error;
  };
  void Loop();
  void TakeBatch();  // moves this step's requests from queue_ to batch_ (mu_ held)
  void RunBatch();   // runs batch_ (model mutex held)

  LanguageModel& lm_;
  ThreadPool& pool_;
  std::mutex& model_mu_;
  StepSchedulerOptions options_;

  mutable std::mutex mu_;  // guards queue_, stop_, stats_ and every Request's done / error
  std::condition_variable work_cv_, done_cv_;
  std::vector<Request*> queue_;  // FIFO; a vector so that steady decoding allocates nothing
  bool stop_ = false;
  int64_t active_ = 0;  // registered running sequences
  Stats stats_;
  int64_t steps_finished_ = 0;  // steps whose batch has run (stats_.steps counts those started)
  int64_t lending_ = 0;         // YieldModel callers waiting for a step or to retake the model
  int64_t reclaiming_ = 0;      // of those, the ones whose step has run: the next step waits for them
  // The step thread's own (reused) tables.
  std::vector<Request*> batch_;
  std::vector<SequenceBatchItem> items_;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace dsvl
