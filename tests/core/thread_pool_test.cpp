#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/aligned_alloc.h"
#include "dsvl/error.h"
#include "core/tensor.h"
#include "kernels/scratch.h"

namespace dsvl {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(1000);
    pool.Run(1000, [&](int64_t t, int thread) {
      ASSERT_GE(thread, 0);
      ASSERT_LT(thread, pool.size());
      hits[static_cast<size_t>(t)].fetch_add(1);
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, ParallelForCoversRangeContiguously) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 7, 1000, 12345}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.ParallelFor(n, 5, [&](int64_t b, int64_t e) {
      ASSERT_LE(b, e);
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, ReusableManyTimes) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 2000; ++rep) pool.Run(3, [&](int64_t t, int) { sum += t; });
  EXPECT_EQ(sum.load(), 2000 * 3);
}

// Runs a region in which the task `bad` throws, and checks that Run rethrows it after the region
// ended: no task is still running when Run returns (a dangling task would touch `running` after).
void ExpectRunRethrows(ThreadPool& pool, int64_t tasks, const std::function<bool(int64_t, int)>& bad,
                       const std::string& message) {
  std::atomic<int> running{0};
  std::atomic<int64_t> started{0};
  bool caught = false;
  try {
    pool.Run(tasks, [&](int64_t t, int thread) {
      running.fetch_add(1);
      started.fetch_add(1);
      std::this_thread::yield();
      if (bad(t, thread)) {
        running.fetch_sub(1);
        throw std::runtime_error(message);
      }
      running.fetch_sub(1);
    });
  } catch (const std::runtime_error& e) {
    caught = true;
    EXPECT_EQ(std::string(e.what()), message);
  }
  EXPECT_TRUE(caught) << "Run returned normally although a task threw";
  EXPECT_EQ(running.load(), 0) << "a task was still running when Run rethrew";
  EXPECT_GE(started.load(), 1);
  EXPECT_LE(started.load(), tasks);
}

// The pool after a failed region: every task of a new region runs exactly once.
void ExpectPoolStillWorks(ThreadPool& pool) {
  std::vector<std::atomic<int>> hits(257);
  pool.Run(257, [&](int64_t t, int) { hits[static_cast<size_t>(t)].fetch_add(1); });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPoolErrors, ExceptionFromAWorkerTaskReachesTheCaller) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 50; ++rep) {
    // Tasks on worker threads throw. The caller (thread 0) holds its first task until a worker has
    // taken one, so a worker throws even when the workers wake late on a loaded machine.
    std::atomic<bool> worker_started{false};
    ExpectRunRethrows(
        pool, 64,
        [&](int64_t, int thread) {
          if (thread != 0) {
            worker_started.store(true);
            return true;
          }
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!worker_started.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
          return false;
        },
        "worker failed");
    ExpectPoolStillWorks(pool);
  }
}

TEST(ThreadPoolErrors, ExceptionFromTheCallingThreadWaitsForWorkers) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 50; ++rep) {
    // Thread 0 is the caller. Workers keep their tasks slow, so the caller throws while they run.
    // Workers hold their first task until the caller has taken one, so the caller always throws.
    std::atomic<int> running{0};
    std::atomic<bool> caller_started{false};
    bool caught = false;
    try {
      pool.Run(64, [&](int64_t, int thread) {
        running.fetch_add(1);
        if (thread == 0) {
          caller_started.store(true);
          running.fetch_sub(1);
          throw std::logic_error("caller failed");
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!caller_started.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        running.fetch_sub(1);
      });
    } catch (const std::logic_error& e) {
      caught = true;
      EXPECT_STREQ(e.what(), "caller failed");
    }
    EXPECT_TRUE(caught);
    EXPECT_EQ(running.load(), 0) << "Run rethrew while workers were still running tasks";
    ExpectPoolStillWorks(pool);
  }
}

TEST(ThreadPoolErrors, ManyTasksThrowingAtOnceGiveOneException) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 50; ++rep) {
    ExpectRunRethrows(pool, 1000, [](int64_t, int) { return true; }, "every task failed");
    ExpectPoolStillWorks(pool);
  }
}

TEST(ThreadPoolErrors, RemainingTasksAreSkippedAfterAFailure) {
  ThreadPool pool(2);
  std::atomic<int64_t> ran{0};
  EXPECT_THROW(pool.Run(100000,
                        [&](int64_t t, int) {
                          ran.fetch_add(1);
                          if (t == 0) throw std::runtime_error("first task failed");
                          std::this_thread::sleep_for(std::chrono::microseconds(10));
                        }),
               std::runtime_error);
  EXPECT_LT(ran.load(), 100000);
  ExpectPoolStillWorks(pool);
}

TEST(ThreadPoolErrors, SingleThreadAndSingleTaskPathsPropagate) {
  ThreadPool inline_pool(1);
  EXPECT_THROW(inline_pool.Run(10, [](int64_t t, int) { if (t == 3) throw std::runtime_error("x"); }),
               std::runtime_error);
  ExpectPoolStillWorks(inline_pool);
  ThreadPool pool(3);
  EXPECT_THROW(pool.Run(1, [](int64_t, int) { throw std::runtime_error("x"); }), std::runtime_error);
  ExpectPoolStillWorks(pool);
}

TEST(ThreadPoolErrors, DsvlErrorKeepsItsCode) {
  ThreadPool pool(3);
  try {
    pool.Run(30, [](int64_t t, int) {
      if (t == 17) Throw(ErrorCode::kCorruptData, ErrorContext{"task", "17", "", "", "bad"});
    });
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
    EXPECT_EQ(std::string(e.what()), "task: 17: bad");
  }
  ExpectPoolStillWorks(pool);
}

TEST(ThreadPoolErrors, ParallelForPropagatesAndStaysUsable) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 20; ++rep) {
    EXPECT_THROW(pool.ParallelFor(10000, 10,
                                  [](int64_t b, int64_t e) {
                                    if (b <= 5000 && 5000 < e) throw std::out_of_range("range failed");
                                  }),
                 std::out_of_range);
    std::vector<std::atomic<int>> hits(10000);
    pool.ParallelFor(10000, 10, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

// Allocation failures become kOutOfMemory naming what and how many bytes. Sizes above 2^60 bytes
// cannot be satisfied by any machine, so these exercise the error path without allocating.
TEST(OutOfMemory, HugeScratchRequestIsAnOutOfMemoryError) {
  std::string what;
  try {
    kernels::ThreadScratch(kernels::ScratchSlot::kConvCols, (size_t{1} << 60) + 1);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    what = e.what();
  }
  EXPECT_NE(what.find("conv2d patches"), std::string::npos) << what;
  EXPECT_NE(what.find(std::to_string((uint64_t{1} << 60) + 1) + " bytes"), std::string::npos) << what;
  // The slot still works afterwards.
  float* p = kernels::ThreadScratchAs<float>(kernels::ScratchSlot::kConvCols, 16);
  ASSERT_NE(p, nullptr);
  p[15] = 1.0f;
  // A count whose byte size overflows size_t is refused too.
  try {
    kernels::ThreadScratchAs<float>(kernels::ScratchSlot::kScores, SIZE_MAX / 2);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory) << e.what();
  }
}

TEST(OutOfMemory, HugeTensorIsAnOutOfMemoryError) {
  try {
    Tensor::Empty(DType::kF32, Shape{int64_t{1} << 30, int64_t{1} << 30, 4});  // 2^64 bytes
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    EXPECT_NE(std::string(e.what()).find("tensor F32[1073741824, 1073741824, 4]"), std::string::npos) << e.what();
  }
  try {
    Tensor::Empty(DType::kBF16, Shape{int64_t{1} << 31, int64_t{1} << 29});  // 2^61 bytes
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    EXPECT_NE(std::string(e.what()).find(std::to_string(uint64_t{1} << 61) + " bytes"), std::string::npos)
        << e.what();
  }
  // Thrown inside a pool task, it reaches the caller with its code.
  ThreadPool pool(3);
  try {
    pool.Run(8, [](int64_t t, int) {
      if (t == 5) Tensor::Empty(DType::kF32, Shape{int64_t{1} << 40, int64_t{1} << 20});
    });
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
  }
  ExpectPoolStillWorks(pool);
}

TEST(OutOfMemory, CaptureMapsBadAllocToOutOfMemory) {
  const Status s = Capture([] { throw std::bad_alloc(); });
  EXPECT_EQ(s.code(), ErrorCode::kOutOfMemory);
  EXPECT_EQ(s.ToString(), "out of memory: out of memory");
}

}  // namespace dsvl
