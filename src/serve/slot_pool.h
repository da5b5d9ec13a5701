// --parallel N sessions ("slots") shared by the HTTP handlers, and a bounded FIFO queue of requests
// waiting for one. A request goes to the idle slot whose last conversation shares the longest
// message prefix with it (its KV cache and image embeddings then serve the most), else to the
// least recently used one. A slot is just the session a request runs on; the model's step loop
// batches the passes of all running slots, and a request with n > 1 choices may hold several.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "dsvl/dsvl.h"

namespace dsvl::serve {

struct Slot {
  int index = 0;
  std::unique_ptr<Session> session;
  std::vector<uint64_t> signature;  // messages of the conversation its cache holds (see ParsedRequest)
  bool busy = false;
  uint64_t last_used = 0;
};

class SlotPool;

// Holds a slot; gives it back when destroyed.
class SlotLease {
 public:
  SlotLease(SlotPool& pool, Slot& slot) : pool_(pool), slot_(slot) {}
  ~SlotLease();
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  Slot& slot() { return slot_; }

 private:
  SlotPool& pool_;
  Slot& slot_;
};

class SlotPool {
 public:
  enum class Outcome { kOk, kQueueFull, kShuttingDown };

  SlotPool(std::shared_ptr<Model> model, int slots, int max_queue);  // throws dsvl::Error

  // Waits (FIFO) for an idle slot; refuses at once when the queue is full or the pool closed.
  Outcome Acquire(const std::vector<uint64_t>& signature, std::unique_ptr<SlotLease>* lease);
  // Extra slots for a request that already holds one (its n > 1 choices run side by side): up to
  // `max` slots that are idle right now, appended to `leases`; returns how many. Never waits, and
  // takes none while any request is queued or the pool is closed: a queued request has the first
  // claim on the next idle slot, and a request holding a slot never waits for another, so two of
  // them cannot deadlock and extra choices never delay anybody. Choices that get no slot of their
  // own run afterwards, one after another, on the slots the request holds.
  int TryAcquireIdle(int max, const std::vector<uint64_t>& signature, std::vector<std::unique_ptr<SlotLease>>* leases);
  // Refuses new and queued requests from now on (running ones keep their slots).
  void Close();
  // Waits until no slot is busy or the deadline passes; true when all are idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);

  int active() const;
  int queued() const;
  int size() const { return static_cast<int>(slots_.size()); }

 private:
  friend class SlotLease;
  void Release(Slot& slot);
  Slot* BestIdle(const std::vector<uint64_t>& signature);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::deque<uint64_t> waiting_;  // tickets in arrival order
  uint64_t next_ticket_ = 0;
  uint64_t clock_ = 0;
  int max_queue_ = 0;
  int active_ = 0;
  bool closed_ = false;
};

}  // namespace dsvl::serve
