#include "serve/generation.h"

#include <optional>

#include "model/engine.h"

namespace dsvl::serve {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One request's choices, shared by the threads running them (one per slot held).
class ChoiceRun {
 public:
  ChoiceRun(std::vector<std::unique_ptr<SlotLease>>& leases, const ParsedRequest& req, const RunContext& ctx,
            const PieceFn& on_piece, const ChoiceDoneFn& on_done)
      : leases_(leases), req_(req), ctx_(ctx), on_piece_(on_piece), on_done_(on_done),
        done_(static_cast<size_t>(req.n)) {}

  Status Run(std::vector<GenerateResult>* results) {
    next_ = 1;  // choice 0 is the request's own slot's first
    Work(0, 0);
    for (std::thread& t : threads_) t.join();
    for (auto& r : done_) {
      if (r) results->push_back(std::move(*r));
    }
    return failure_;
  }

 private:
  // Slot w runs `first`, then the next choices nobody has started, until none is left or the run
  // stops; an extra slot is then given back at once.
  void Work(size_t w, int64_t first) {
    for (int64_t i = first; i < req_.n && !stop_; i = next_.fetch_add(1)) {
      if (!RunOne(leases_[w]->slot(), i)) break;
    }
    if (w > 0) leases_[w].reset();
  }

  // Once choice 0's prompt is in its slot's cache: the extra slots copy it and start choices.
  void StartExtras() {
    const SessionImpl& from = leases_[0]->slot().session->impl();
    for (size_t w = 1; w < leases_.size(); ++w) {
      Slot& slot = leases_[w]->slot();
      try {
        slot.session->impl().CopyStateFrom(from);
        slot.signature.clear();  // it holds the prompt now, not its old conversation
        threads_.emplace_back([this, w] { Work(w, next_.fetch_add(1)); });
      } catch (...) {
        // No copy or no thread: this slot sits out; the others take its choices.
        slot.signature.clear();
        leases_[w].reset();
      }
    }
  }

  // False when the run is to stop (a failure or a cancellation).
  bool RunOne(Slot& slot, int64_t i) {
    GenerateRequest g = req_.request;
    g.sampling.seed += static_cast<uint64_t>(i);
    int64_t tokens = 0;
    Clock::time_point last;
    auto on_token = [&](int64_t id, std::string_view piece) {
      const Clock::time_point now = Clock::now();
      if (id >= 0) {
        if (tokens > 0) ctx_.metrics->ObserveInterTokenLatency(Seconds(now - last));
        else if (!first_token_seen_.exchange(true)) ctx_.metrics->ObserveTimeToFirstToken(Seconds(now - ctx_.arrival));
        last = now;
        ++tokens;
      }
      if (stop_ || (ctx_.cancel_all && ctx_.cancel_all->load())) return false;
      return on_piece_ ? on_piece_(i, piece) : true;
    };
    std::function<void()> on_prefilled;
    if (i == 0 && leases_.size() > 1) on_prefilled = [this] { StartExtras(); };
    GenerateResult r;
    const Status s = Capture([&] { slot.session->impl().Generate(g, r, on_token, on_prefilled); });
    if (!s.ok()) {
      slot.signature.clear();
      std::lock_guard<std::mutex> lock(mu_);
      if (failure_.ok()) failure_ = s;
      stop_ = true;
      return false;
    }
    // Prompt tokens once per request, as the choices share one prompt.
    ctx_.metrics->AddTokens(i == 0 ? r.prompt_tokens : 0, static_cast<int64_t>(r.ids.size()),
                            i == 0 ? r.cached_tokens : 0);
    ctx_.metrics->AddImagesEncoded(r.images_encoded);
    // The session now holds this conversation and its answer: a next turn resending both
    // matches this slot best (the same hashing as ParseChatRequest).
    slot.signature = req_.signature;
    if (req_.chat) {
      const char* role = "assistant";
      slot.signature.push_back(HashBytes(r.text.data(), r.text.size(), HashBytes(role, 9)));
    }
    const bool cancelled = r.finish_reason == FinishReason::kCancelled;
    std::optional<GenerateResult>& stored = done_[static_cast<size_t>(i)];
    stored = std::move(r);  // its own element: no lock needed
    if (on_done_) on_done_(i, *stored);
    if (cancelled) stop_ = true;
    return !cancelled;
  }

  std::vector<std::unique_ptr<SlotLease>>& leases_;
  const ParsedRequest& req_;
  const RunContext& ctx_;
  const PieceFn& on_piece_;
  const ChoiceDoneFn& on_done_;
  std::vector<std::optional<GenerateResult>> done_;  // by choice index
  std::atomic<int64_t> next_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> first_token_seen_{false};
  std::mutex mu_;   // guards failure_
  Status failure_;  // the first failure
  std::vector<std::thread> threads_;  // extra slots' workers (made on choice 0's thread only)
};

}  // namespace

Status RunChoices(std::vector<std::unique_ptr<SlotLease>>& leases, const ParsedRequest& req, const RunContext& ctx,
                  const PieceFn& on_piece, const ChoiceDoneFn& on_done, std::vector<GenerateResult>* results) {
  ChoiceRun run(leases, req, ctx, on_piece, on_done);
  return run.Run(results);
}

StreamJob::StreamJob(std::vector<std::unique_ptr<SlotLease>> leases, ParsedRequest req, RunContext ctx)
    : leases_(std::move(leases)), req_(std::move(req)), ctx_(ctx) {
  thread_ = std::thread([this] {
    const Status s = RunChoices(
        leases_, req_, ctx_,
        [this](int64_t index, std::string_view piece) {
          if (cancelled_) return false;
          if (!piece.empty()) Push(Event{Event::kText, index, std::string(piece), {}, {}});
          return true;
        },
        [this](int64_t index, const GenerateResult& r) { Push(Event{Event::kChoiceDone, index, "", r, {}}); },
        &results_);
    leases_.clear();  // the slots are free before the writer has drained the last events
    if (!s.ok()) Push(Event{Event::kFailed, 0, "", {}, s});
    Push(Event{});
  });
}

StreamJob::~StreamJob() {
  cancelled_ = true;
  if (thread_.joinable()) thread_.join();
}

void StreamJob::Push(Event e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_one();
}

StreamJob::Event StreamJob::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !events_.empty(); });
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

}  // namespace dsvl::serve
