#include "serve/slot_pool.h"

#include <algorithm>

namespace dsvl::serve {

SlotLease::~SlotLease() { pool_.Release(slot_); }

SlotPool::SlotPool(std::shared_ptr<Model> model, int slots, int max_queue) : max_queue_(std::max(0, max_queue)) {
  if (slots < 1) Throw(ErrorCode::kInvalidArgument, ErrorContext{"serve", "--parallel", ">= 1", std::to_string(slots), ""});
  for (int i = 0; i < slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->index = i;
    const Status s = Session::Create(model, &slot->session);
    if (!s.ok()) throw Error(s.code(), s.message());
    slots_.push_back(std::move(slot));
  }
}

Slot* SlotPool::BestIdle(const std::vector<uint64_t>& signature) {
  Slot* best = nullptr;
  size_t best_match = 0;
  for (auto& s : slots_) {
    if (s->busy) continue;
    size_t match = 0;
    while (match < s->signature.size() && match < signature.size() && s->signature[match] == signature[match]) ++match;
    // Longest shared prefix first; among equals the least recently used, so unrelated requests
    // do not evict a conversation that was just served.
    if (!best || match > best_match || (match == best_match && s->last_used < best->last_used)) {
      best = s.get();
      best_match = match;
    }
  }
  return best;
}

SlotPool::Outcome SlotPool::Acquire(const std::vector<uint64_t>& signature, std::unique_ptr<SlotLease>* lease) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return Outcome::kShuttingDown;
  const bool idle_now = active_ < size() && waiting_.empty();
  if (!idle_now && static_cast<int>(waiting_.size()) >= max_queue_) return Outcome::kQueueFull;
  const uint64_t ticket = next_ticket_++;
  waiting_.push_back(ticket);
  cv_.wait(lock, [&] { return closed_ || (waiting_.front() == ticket && active_ < size()); });
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), ticket));
  if (closed_) {
    cv_.notify_all();
    return Outcome::kShuttingDown;
  }
  Slot* slot = BestIdle(signature);
  slot->busy = true;
  slot->last_used = ++clock_;
  ++active_;
  cv_.notify_all();  // the next in line may find another idle slot
  *lease = std::make_unique<SlotLease>(*this, *slot);
  return Outcome::kOk;
}

int SlotPool::TryAcquireIdle(int max, const std::vector<uint64_t>& signature,
                             std::vector<std::unique_ptr<SlotLease>>* leases) {
  std::lock_guard<std::mutex> lock(mu_);
  int taken = 0;
  if (closed_ || !waiting_.empty()) return 0;
  while (taken < max && active_ < size()) {
    Slot* slot = BestIdle(signature);
    slot->busy = true;
    slot->last_used = ++clock_;
    ++active_;
    leases->push_back(std::make_unique<SlotLease>(*this, *slot));
    ++taken;
  }
  return taken;
}

void SlotPool::Release(Slot& slot) {
  std::lock_guard<std::mutex> lock(mu_);
  slot.busy = false;
  --active_;
  cv_.notify_all();
}

void SlotPool::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

bool SlotPool::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return active_ == 0; });
}

int SlotPool::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

int SlotPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(waiting_.size());
}

}  // namespace dsvl::serve
