// A fixed pool of worker threads that every heavy op runs on. Passed explicitly (no singleton) so
// that several models or sessions can each own one. The calling thread takes part in the work, so a
// pool of size 1 runs everything inline with no synchronisation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace dsvl {

// Non-owning reference to a callable: no allocation per parallel region (decode issues thousands).
template <typename Sig> class FunctionRef;
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT(google-explicit-constructor)
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(a)...);
        }) {}
  R operator()(Args... a) const { return call_(obj_, std::forward<Args>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

class ThreadPool {
 public:
  // num_threads <= 0 means one per hardware thread.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, thread) for every task in [0, num_tasks); tasks are handed out dynamically, thread
  // is in [0, size()) and can index per-thread scratch. Returns when all tasks are done. Not
  // reentrant: fn must not call Run on the same pool.
  // If a task throws (on a worker or on the calling thread), the tasks not yet started are skipped,
  // Run waits until every running task has returned, then rethrows the first exception; the pool
  // stays usable.
  void Run(int64_t num_tasks, FunctionRef<void(int64_t, int)> fn);

  // Splits [0, n) into contiguous ranges of at least `grain` items, about 4 per thread for balance,
  // and calls fn(begin, end) for each.
  void ParallelFor(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);

 private:
  void WorkerLoop(int thread_index);
  void DoTasks(int thread_index);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;  // guarded by mu_
  bool stop_ = false;        // guarded by mu_
  int active_ = 0;           // workers still in the current job; guarded by mu_

  // Current job, published under mu_ before generation_ is bumped.
  const FunctionRef<void(int64_t, int)>* job_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  // The current job's first exception (guarded by mu_), and a flag tasks poll to stop early.
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

int DefaultThreadCount();

}  // namespace dsvl
