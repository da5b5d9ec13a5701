#include "kernel_bench_util.h"

#include <cstdlib>
#include <random>

namespace dsvl::bench {

ThreadPool& Pool() {
  static ThreadPool pool(std::getenv("DSVL_BENCH_THREADS") ? std::atoi(std::getenv("DSVL_BENCH_THREADS")) : 0);
  return pool;
}

Roofline& Roof() {
  static Roofline roof;
  return roof;
}

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

Weight::Weight(DType t, int64_t N, int64_t K, uint32_t seed) : dtype(t) {
  f32 = Random(static_cast<size_t>(N * K), seed);
  if (t == DType::kF32) {
    view = TensorView(t, Shape{N, K}, f32.data());
    return;
  }
  half.resize(f32.size());
  for (size_t i = 0; i < f32.size(); ++i) half[i] = t == DType::kBF16 ? F32ToBf16(f32[i]) : F32ToF16(f32[i]);
  f32.clear();
  f32.shrink_to_fit();
  view = TensorView(t, Shape{N, K}, half.data());
}

DType DTypeArg(int64_t code) { return code == 0 ? DType::kF32 : code == 1 ? DType::kBF16 : DType::kF16; }

void SetFlopCounters(benchmark::State& state, double flops_per_iter) {
  state.counters["FLOP/s"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_f32_peak"] =
      benchmark::Counter(flops_per_iter / Roof().f32_fma_flops, benchmark::Counter::kIsIterationInvariantRate);
  // Where the CPU has a bf16 dot product, its (higher) rate is the ceiling of the bf16-activation GEMM.
  if (Roof().bf16_dot_flops > 0)
    state.counters["of_bf16_dot_peak"] =
        benchmark::Counter(flops_per_iter / Roof().bf16_dot_flops, benchmark::Counter::kIsIterationInvariantRate);
}

void SetBandwidthCounters(benchmark::State& state, double bytes_per_iter) {
  state.counters["W_bytes/s"] = benchmark::Counter(bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1024);
  state.counters["of_dram_bw"] =
      benchmark::Counter(bytes_per_iter / Roof().dram_read_bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void SetTrafficCounters(benchmark::State& state, double bytes_per_iter) {
  state.counters["bytes/s"] = benchmark::Counter(bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace dsvl::bench
