// Shared pieces of the kernel benchmarks (kernels_bench.cpp, kernels_rowops.cpp): the thread pool,
// the roofline measured at start-up, random data and weights, and counters that report each figure
// as a fraction of the roofline.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "roofline.h"

namespace dsvl::bench {

ThreadPool& Pool();  // DSVL_BENCH_THREADS threads (default: one per hardware thread)
Roofline& Roof();    // filled by main() before the benchmarks run

std::vector<float> Random(size_t n, uint32_t seed);

// Weight matrix [N, K] in `dtype`, owning its bytes.
struct Weight {
  DType dtype;
  std::vector<float> f32;
  std::vector<uint16_t> half;
  TensorView view;
  Weight(DType t, int64_t N, int64_t K, uint32_t seed);
};

DType DTypeArg(int64_t code);  // 0 f32, 1 bf16, 2 f16

// FLOP/s plus its fraction of the f32 FMA peak (and of the bf16 dot peak where the CPU has one).
void SetFlopCounters(benchmark::State& state, double flops_per_iter);
// Weight bytes/s plus its fraction of the DRAM read bandwidth.
void SetBandwidthCounters(benchmark::State& state, double bytes_per_iter);
// Bytes read + written per second by a memory-bound kernel (its data may sit in cache).
void SetTrafficCounters(benchmark::State& state, double bytes_per_iter);

}  // namespace dsvl::bench
