#include "runtime/step_scheduler.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"

namespace dsvl {

StepScheduler::StepScheduler(LanguageModel& lm, ThreadPool& pool, std::mutex& model_mu, StepSchedulerOptions options)
    : lm_(lm), pool_(pool), model_mu_(model_mu), options_(options) {
  if (options_.max_prefill_rows <= 0) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"StepSchedulerOptions", "max_prefill_rows", "> 0",
                                                    std::to_string(options_.max_prefill_rows), ""});
  }
  thread_ = std::thread([this] { Loop(); });
}

StepScheduler::~StepScheduler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

void StepScheduler::Forward(KvCache& cache, const float* embeds, int64_t n, float* logits_out, float* hidden_out) {
  if (n <= 0 || !embeds) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"StepScheduler::Forward", "n / embeds", "n >= 1 with embeds",
                                                    std::to_string(n), ""});
  }
  Request r;
  r.item = SequenceBatchItem{&cache, embeds, n, logits_out, hidden_out};
  std::unique_lock<std::mutex> lk(mu_);
  queue_.push_back(&r);
  work_cv_.notify_one();
  done_cv_.wait(lk, [&] { return r.done; });
  if (r.error) std::rethrow_exception(r.error);
}

StepScheduler::Active::Active(StepScheduler& s) : s_(s) {
  std::lock_guard<std::mutex> lk(s_.mu_);
  ++s_.active_;
}

StepScheduler::Active::~Active() {
  {
    std::lock_guard<std::mutex> lk(s_.mu_);
    --s_.active_;
  }
  s_.work_cv_.notify_one();  // a step may be waiting for this sequence's pass
}

StepScheduler::Stats StepScheduler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

int64_t StepScheduler::queued() const {
  std::lock_guard<std::mutex> lk(mu_);
  return static_cast<int64_t>(queue_.size());
}

void StepScheduler::YieldModel(std::unique_lock<std::mutex>& model_lock) {
  DSVL_CHECK(model_lock.owns_lock() && model_lock.mutex() == &model_mu_, "YieldModel without the model lock");
  std::unique_lock<std::mutex> lk(mu_);
  if (queue_.empty()) return;
  // With the model held here every started step has finished (a step counts itself finished
  // before it lets the model go), so the step awaited is the next one, which takes at least the
  // first queued pass.
  const int64_t target = stats_.steps + 1;
  ++lending_;
  model_lock.unlock();
  done_cv_.wait(lk, [&] { return steps_finished_ >= target; });
  lk.unlock();
  model_lock.lock();  // the step loop waits for this (reclaiming_), so it is not raced for it
  lk.lock();
  --lending_;
  --reclaiming_;
  lk.unlock();
  work_cv_.notify_one();
}

void StepScheduler::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ with nothing left
      // Give the other running sequences' callers a moment to queue their next pass.
      work_cv_.wait_for(lk, options_.gather_wait,
                        [&] { return stop_ || static_cast<int64_t>(queue_.size()) >= active_; });
      // Whoever lent the model for the last step (YieldModel) gets it back before the next one:
      // each lend costs the lender one step, however busy the loop is.
      work_cv_.wait(lk, [&] { return reclaiming_ == 0; });
    }
    {
      // The model first, then the queue: while someone else holds the model (image encoding),
      // passes keep queueing and the next step takes them all.
      std::lock_guard<std::mutex> model(model_mu_);
      {
        std::lock_guard<std::mutex> lk(mu_);
        TakeBatch();
      }
      RunBatch();
      // Finished while the model is still held, so that a lender (YieldModel) who has the model
      // has seen every started step finish: all lenders now wait for this step, and no other.
      std::lock_guard<std::mutex> lk(mu_);
      for (Request* r : batch_) r->done = true;
      ++steps_finished_;
      reclaiming_ = lending_;
    }
    done_cv_.notify_all();  // callers of this step, and lenders waiting for it
  }
}

void StepScheduler::TakeBatch() {
  batch_.clear();
  int64_t prefill_rows = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    Request* r = *it;
    const int64_t n = r->item.n;
    const bool same_cache = std::any_of(batch_.begin(), batch_.end(),
                                        [&](const Request* b) { return b->item.cache == r->item.cache; });
    const bool fits = n == 1 || prefill_rows == 0 || prefill_rows + n <= options_.max_prefill_rows;
    if (same_cache || !fits) {  // waits for a later step (FIFO among what waits)
      ++it;
      continue;
    }
    if (n > 1) prefill_rows += n;
    batch_.push_back(r);
    it = queue_.erase(it);
  }
  ++stats_.steps;
  stats_.max_items = std::max<int64_t>(stats_.max_items, static_cast<int64_t>(batch_.size()));
  for (const Request* r : batch_) stats_.rows += r->item.n;
}

void StepScheduler::RunBatch() {
  items_.clear();
  for (const Request* r : batch_) items_.push_back(r->item);
  try {
    lm_.ForwardBatch(pool_, items_);
    return;
  } catch (...) {
    if (batch_.size() == 1) {
      batch_[0]->error = std::current_exception();
      return;
    }
  }
  // A failed batch commits nothing: run each pass alone so that only the faulty ones fail.
  for (Request* r : batch_) {
    try {
      lm_.ForwardBatch(pool_, {&r->item, 1});
    } catch (...) {
      r->error = std::current_exception();
    }
  }
}

}  // namespace dsvl
