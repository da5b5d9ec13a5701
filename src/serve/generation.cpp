#include "serve/generation.h"

namespace dsvl::serve {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Status RunChoices(Slot& slot, const ParsedRequest& req, const RunContext& ctx, const PieceFn& on_piece,
                  const ChoiceDoneFn& on_done, std::vector<GenerateResult>* results) {
  Clock::time_point last = ctx.arrival;
  bool first = true;
  for (int64_t i = 0; i < req.n; ++i) {
    GenerateRequest g = req.request;
    g.sampling.seed += static_cast<uint64_t>(i);
    int64_t tokens = 0;
    auto on_token = [&](int64_t id, std::string_view piece) {
      const Clock::time_point now = Clock::now();
      if (id >= 0) {
        if (first) ctx.metrics->ObserveTimeToFirstToken(Seconds(now - ctx.arrival));
        else if (tokens > 0) ctx.metrics->ObserveInterTokenLatency(Seconds(now - last));
        first = false;
        last = now;
        ++tokens;
      }
      if (ctx.cancel_all && ctx.cancel_all->load()) return false;
      return on_piece ? on_piece(i, piece) : true;
    };
    GenerateResult r;
    const Status s = slot.session->Generate(g, &r, on_token);
    if (!s.ok()) {
      slot.signature.clear();
      return s;
    }
    ctx.metrics->AddTokens(i == 0 ? r.prompt_tokens : 0, static_cast<int64_t>(r.ids.size()),
                           i == 0 ? r.cached_tokens : 0);
    ctx.metrics->AddImagesEncoded(r.images_encoded);
    // The session now holds this conversation and its answer: a next turn resending both
    // matches this slot best (the same hashing as ParseChatRequest).
    slot.signature = req.signature;
    if (req.chat) {
      const char* role = "assistant";
      slot.signature.push_back(HashBytes(r.text.data(), r.text.size(), HashBytes(role, 9)));
    }
    results->push_back(std::move(r));
    if (on_done) on_done(i, results->back());
    if (results->back().finish_reason == FinishReason::kCancelled) break;
  }
  return Status();
}

StreamJob::StreamJob(std::unique_ptr<SlotLease> lease, ParsedRequest req, RunContext ctx)
    : lease_(std::move(lease)), req_(std::move(req)), ctx_(ctx) {
  thread_ = std::thread([this] {
    const Status s = RunChoices(
        lease_->slot(), req_, ctx_,
        [this](int64_t index, std::string_view piece) {
          if (cancelled_) return false;
          if (!piece.empty()) Push(Event{Event::kText, index, std::string(piece), {}, {}});
          return true;
        },
        [this](int64_t index, const GenerateResult& r) { Push(Event{Event::kChoiceDone, index, "", r, {}}); },
        &results_);
    lease_.reset();  // the slot is free before the writer has drained the last events
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
