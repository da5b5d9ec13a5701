#include "bench_probes.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "kernels/ops.h"

namespace dsvl::cli {
namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double ProbeReadBandwidthGbs(ThreadPool& pool) {
  constexpr int64_t kWords = (int64_t{1} << 30) / 8;  // 1 GiB: far beyond any cache
  constexpr int kPasses = 4;
  std::vector<uint64_t> buf(static_cast<size_t>(kWords), 1);  // written once, so every page is mapped
  std::vector<uint64_t> sums(static_cast<size_t>(pool.size()) * 8 + 64, 0);
  double best = 0;
  for (int pass = 0; pass < kPasses; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    // One contiguous range per task; the integer sum vectorises and keeps the loads live.
    const int64_t tasks = static_cast<int64_t>(pool.size());
    pool.Run(tasks, [&](int64_t t, int) {
      const int64_t b = kWords * t / tasks, e = kWords * (t + 1) / tasks;
      uint64_t s = 0;
      for (int64_t i = b; i < e; ++i) s += buf[static_cast<size_t>(i)];
      sums[static_cast<size_t>(t) * 8] += s;  // own cache line per task
    });
    best = std::max(best, static_cast<double>(kWords * 8) / Seconds(t0) / 1e9);
  }
  // Read the sums so the loads cannot be dropped.
  uint64_t all = 0;
  for (uint64_t s : sums) all += s;
  if (all == 0) return 0.0;
  return best;
}

double ProbeGemmGflops(ThreadPool& pool) {
  constexpr int64_t n = 1024;
  constexpr int kRuns = 4;
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(a.size(), 0.25f), c(a.size());
  double best = 0;
  for (int r = 0; r < kRuns; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    kernels::GemmNT(pool, n, n, n, a.data(), n, b.data(), n, c.data(), n, 1.0f, 0.0f);
    best = std::max(best, 2.0 * n * n * n / Seconds(t0) / 1e9);
  }
  return best;
}

}  // namespace dsvl::cli
