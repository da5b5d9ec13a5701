// Runs a parsed request's n choices on the slots it holds, feeding the metrics, and (for
// streaming) on a thread of its own whose output the HTTP writer drains through an event queue:
// a failure before the first token can still become a 4xx reply, and a client that goes away
// cancels the generation at its next token, freeing the slots at once.
//
// Choices run side by side, one per slot held, so the step scheduler batches their decode rows:
// choice 0 runs on the request's own slot; once its prompt is prefilled, every extra slot's
// session copies that state (SessionImpl::CopyStateFrom) and starts the next choice, and a slot
// whose choice ends takes the next one not yet started. Choice i samples with seed + i, and every
// choice after the first starts from the prompt's cached rows with its last position recomputed,
// which is what the choices after the first did when they all ran one after another on one slot:
// the texts do not depend on how many slots the request got (one slot: the old sequential run).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dsvl/dsvl.h"
#include "serve/chat_request.h"
#include "serve/metrics.h"
#include "serve/slot_pool.h"

namespace dsvl::serve {

using Clock = std::chrono::steady_clock;

struct RunContext {
  Metrics* metrics = nullptr;
  const std::atomic<bool>* cancel_all = nullptr;  // server shutdown past its grace period
  Clock::time_point arrival;
};

// Return false to cancel.
using PieceFn = std::function<bool(int64_t index, std::string_view piece)>;
using ChoiceDoneFn = std::function<void(int64_t index, const GenerateResult& result)>;

// Runs every choice on `leases` (the request's own slot first, then extra ones from
// SlotPool::TryAcquireIdle; extra leases are given back as soon as their slot has no choice left).
// The first failure or cancellation stops the other choices at their next token. `results` holds
// the finished choices in index order. Callbacks may run on several threads at once.
Status RunChoices(std::vector<std::unique_ptr<SlotLease>>& leases, const ParsedRequest& req, const RunContext& ctx,
                  const PieceFn& on_piece, const ChoiceDoneFn& on_done, std::vector<GenerateResult>* results);

class StreamJob {
 public:
  struct Event {
    enum Kind { kText, kChoiceDone, kFailed, kEnd } kind = kEnd;
    int64_t index = 0;
    std::string text;
    GenerateResult result;  // kChoiceDone
    Status status;          // kFailed
  };

  StreamJob(std::vector<std::unique_ptr<SlotLease>> leases, ParsedRequest req, RunContext ctx);
  ~StreamJob();  // cancels and joins

  Event Next();                 // blocks for the next event; kEnd after the last
  void Cancel() { cancelled_ = true; }
  const ParsedRequest& request() const { return req_; }
  const std::vector<GenerateResult>& results() const { return results_; }

 private:
  void Push(Event e);

  std::vector<std::unique_ptr<SlotLease>> leases_;
  ParsedRequest req_;
  RunContext ctx_;
  std::vector<GenerateResult> results_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  std::thread thread_;
};

}  // namespace dsvl::serve
