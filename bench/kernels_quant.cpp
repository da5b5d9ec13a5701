// Benchmarks of Linear over quantised weights (Q8_0, Q4_0, Q4_K): the integer-dot GEMV at decode
// shapes (weights warm in cache, and cold: cycling over copies >= 96 MiB so each call streams its
// matrix from DRAM) and the dequantising GEMM at prefill size. Bytes/s count the quantised weight
// bytes; FLOP/s count 2·M·N·K. Part of kernels_bench (kernels_bench.cpp has the usage).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/tensor.h"
#include "kernels/isa.h"
#include "kernels/ops.h"
#include "kernels/quant_formats.h"
#include "kernel_bench_util.h"

namespace dsvl::bench {
namespace {

// 0-2: the plain types; 3-5: the same in the interleaved layout the engine repacks to for decode
// (docs/quantization.md), where the active variant has kernels for it.
DType QuantArg(int64_t code) {
  const DType plain = code % 3 == 0 ? DType::kQ8_0 : code % 3 == 1 ? DType::kQ4_0 : DType::kQ4_K;
  return code >= 3 ? InterleavedQuantType(plain) : plain;
}

// `copies` identical quantised [N, K] matrices (quantising is slow for Q4_K, so it is done once and
// copied), kept across the repeated calls Google Benchmark makes of one benchmark; only the latest
// set is kept, so the cold sets (~100 MiB each) do not pile up.
const std::vector<std::vector<uint8_t>>& QuantCopies(DType t, int64_t N, int64_t K, int copies) {
  static std::tuple<int, int64_t, int64_t, int> key{-1, 0, 0, 0};
  static std::vector<std::vector<uint8_t>> v;
  const std::tuple<int, int64_t, int64_t, int> want{static_cast<int>(t), N, K, copies};
  if (key != want) {
    key = want;
    v.clear();
    const std::vector<float> f = Random(static_cast<size_t>(N * K), 1);
    const DType plain = PlainQuantType(t);
    const size_t row_bytes = DTypeBytes(plain, K);
    std::vector<uint8_t> q(row_bytes * static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n)
      quant::QuantizeRow(plain, f.data() + n * K, K, q.data() + static_cast<size_t>(n) * row_bytes);
    if (t != plain) {
      std::vector<uint8_t> x8(q.size());
      for (int64_t g = 0; g < N / 8; ++g) quant::InterleaveGroup(plain, q.data(), K, g, x8.data());
      q.swap(x8);
    }
    v.assign(static_cast<size_t>(copies), q);
  }
  return v;
}

// Args: M, K, N, type (0 Q8_0, 1 Q4_0, 2 Q4_K; 3-5 the same interleaved), cold (0/1).
void BM_LinearQuant(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const DType t = QuantArg(state.range(3));
  const bool cold = state.range(4) != 0;
  const double bytes = static_cast<double>(DTypeBytes(t, K)) * static_cast<double>(N);
  const int copies = cold ? static_cast<int>(std::ceil(96.0 * (1 << 20) / bytes)) : 1;
  const auto& ws = QuantCopies(t, N, K, copies);
  std::vector<float> x = Random(static_cast<size_t>(M * K), 2), y(static_cast<size_t>(M * N));
  int next = 0;
  for (auto _ : state) {
    const TensorView w(t, Shape{N, K}, ws[static_cast<size_t>(next)].data());
    kernels::Linear(Pool(), x.data(), M, K, w, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % copies;
  }
  SetFlopCounters(state, 2.0 * M * K * N);
  SetBandwidthCounters(state, bytes);
  state.SetLabel(std::string(kernels::IsaName(kernels::ActiveIsa())) + " " + DTypeName(t) +
                 (cold ? ", " + std::to_string(copies) + " copies" : std::string()));
}

// Decode GEMVs of a 1.3B-class LLM (2048 wide, MLP 5504: Q4_K falls back to Q4_0 for K = 5504 rows,
// docs/quantization.md), a few rows (speculative / batched decode), and a 512-token prefill.
void QuantArgs(benchmark::internal::Benchmark* b) {
  for (int64_t t : {0, 1, 2}) {
    for (int64_t cold : {0, 1}) {
      b->Args({1, 2048, 2048, t, cold});
      b->Args({1, 2048, 5504, t, cold});
      if (t != 2) b->Args({1, 5504, 2048, t, cold});
    }
    b->Args({4, 2048, 5504, t, 0});
    b->Args({8, 2048, 5504, t, 0});
    b->Args({512, 2048, 5504, t, 0});
  }
  // Interleaved, where the variant has kernels for it (else Linear computes it as ref::Linear).
  if (kernels::DecodeLayout(DType::kQ8_0, 8) != DType::kQ8_0)
    for (int64_t t : {3, 4, 5}) {
      for (int64_t cold : {0, 1}) {
        b->Args({1, 2048, 2048, t, cold});
        b->Args({1, 2048, 5504, t, cold});
        if (t != 5) b->Args({1, 5504, 2048, t, cold});
      }
      b->Args({4, 2048, 5504, t, 0});
    }
}
BENCHMARK(BM_LinearQuant)
    ->ArgNames({"M", "K", "N", "type", "cold"})
    ->Apply(QuantArgs)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace dsvl::bench
