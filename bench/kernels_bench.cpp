// Kernel benchmarks (Google Benchmark) with every figure also reported as a fraction of this
// machine's measured roofline (roofline.h): GEMM/prefill against the f32 FMA peak, GEMV against
// DRAM read bandwidth (weights are the only big stream). Matrix products, attention and the patch
// embedding are here; element-wise and row kernels in kernels_rowops.cpp.
//
//   build/bin/kernels_bench --benchmark_min_time=0.2 --benchmark_out=kernels.json --benchmark_out_format=json
//
// DSVL_ISA=avx2|avx512|avx512bf16|scalar forces a kernel variant. The roofline probe runs once at
// start-up (about 1-2 s; DSVL_ROOFLINE_MIB sets its DRAM buffer, default 1024). DSVL_BENCH_THREADS
// sets the pool size (default: one per hardware thread).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu_info.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/isa.h"
#include "kernels/ops.h"
#include "kernel_bench_util.h"
#include "roofline.h"

namespace dsvl::bench {
namespace {

// Args: M, K, N, dtype (0 f32, 1 bf16, 2 f16).
void BM_Linear(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  Weight w(DTypeArg(state.range(3)), N, K, 1);
  std::vector<float> x = Random(static_cast<size_t>(M * K), 2), bias = Random(static_cast<size_t>(N), 3);
  std::vector<float> y(static_cast<size_t>(M * N));
  TensorView b(DType::kF32, Shape{N}, bias.data());
  for (auto _ : state) {
    kernels::Linear(Pool(), x.data(), M, K, w.view, &b, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  SetFlopCounters(state, 2.0 * M * K * N);
  SetBandwidthCounters(state, static_cast<double>(w.view.nbytes()));
  state.SetLabel(std::string(kernels::IsaName(kernels::ActiveIsa())) + " " + DTypeName(w.dtype));
}

// GEMV with the weights cold: rotates over enough copies (>= 3x the 32 MiB L3) that each call
// streams its matrix from DRAM, as decode does over a whole model.
// Enough copies of a bf16 [N, K] matrix (>= 96 MiB, 3x the L3) that cycling through them streams
// each from DRAM.
std::vector<std::unique_ptr<Weight>> ColdCopies(int64_t N, int64_t K) {
  const int copies = static_cast<int>(std::ceil(96.0 * (1 << 20) / (2.0 * K * N)));
  std::vector<std::unique_ptr<Weight>> ws;
  for (int c = 0; c < copies; ++c) ws.push_back(std::make_unique<Weight>(DType::kBF16, N, K, 10 + c));
  return ws;
}

std::string ColdLabel(size_t copies) {
  return std::string(kernels::IsaName(kernels::ActiveIsa())) + " bf16, " + std::to_string(copies) + " copies";
}

void BM_GemvCold(benchmark::State& state) {
  const int64_t K = state.range(0), N = state.range(1);
  const double bytes = 2.0 * K * N;
  const std::vector<std::unique_ptr<Weight>> ws = ColdCopies(N, K);
  const int copies = static_cast<int>(ws.size());
  std::vector<float> x = Random(static_cast<size_t>(K), 2), y(static_cast<size_t>(N));
  int next = 0;
  for (auto _ : state) {
    kernels::Linear(Pool(), x.data(), 1, K, ws[static_cast<size_t>(next)]->view, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % copies;
  }
  SetBandwidthCounters(state, bytes);
  state.SetLabel(ColdLabel(ws.size()));
}

// BM_GemvCold paired with a plain read of the same number of cold bytes on the same pool (same task
// grain), alternating call by call. On a shared VM the DRAM bandwidth moves by +-20% within
// seconds, so a probe taken at start-up is a loose denominator; `of_paired_read` (plain-read time /
// GEMV time) compares the two under the same conditions. Iteration time is the GEMV's alone.
void BM_GemvColdPaired(benchmark::State& state) {
  const int64_t K = state.range(0), N = state.range(1);
  const size_t bytes = static_cast<size_t>(2 * K * N);
  const std::vector<std::unique_ptr<Weight>> ws = ColdCopies(N, K);
  const int copies = static_cast<int>(ws.size());
  std::vector<std::vector<uint64_t>> reads;
  for (int c = 0; c < copies; ++c) reads.emplace_back(bytes / 8, static_cast<uint64_t>(c));
  std::vector<float> x = Random(static_cast<size_t>(K), 2), y(static_cast<size_t>(N));
  constexpr size_t kGrain = size_t{256} << 10;  // the GEMV's task grain
  if (bytes % kGrain) {
    state.SkipWithError("matrix bytes must be a multiple of 256 KiB");
    return;
  }
  double gemv_s = 0, read_s = 0;
  int next = 0;
  using Clock = std::chrono::steady_clock;
  for (auto _ : state) {
    const uint64_t* r = reads[static_cast<size_t>(next)].data();
    auto t0 = Clock::now();
    Pool().ParallelFor(static_cast<int64_t>(bytes / kGrain), 1, [&](int64_t b, int64_t e) {
      uint64_t s = 0;
      for (int64_t i = b; i < e; ++i) s += StreamReadSum(r + static_cast<size_t>(i) * (kGrain / 8), kGrain);
      benchmark::DoNotOptimize(s);
    });
    auto t1 = Clock::now();
    kernels::Linear(Pool(), x.data(), 1, K, ws[static_cast<size_t>(next)]->view, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
    auto t2 = Clock::now();
    read_s += std::chrono::duration<double>(t1 - t0).count();
    const double g = std::chrono::duration<double>(t2 - t1).count();
    gemv_s += g;
    state.SetIterationTime(g);
    next = (next + 1) % copies;
  }
  SetBandwidthCounters(state, static_cast<double>(bytes));
  state.counters["of_paired_read"] = read_s / gemv_s;
  state.counters["paired_read_GB/s"] = static_cast<double>(bytes) * static_cast<double>(state.iterations()) / read_s / 1e9;
  state.SetLabel(ColdLabel(ws.size()));
}

// Args: M, N, K (f32 GemmNT, as attention scores).
void BM_GemmNT(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  std::vector<float> A = Random(static_cast<size_t>(M * K), 1), B = Random(static_cast<size_t>(N * K), 2);
  std::vector<float> C(static_cast<size_t>(M * N));
  for (auto _ : state) {
    kernels::GemmNT(Pool(), M, N, K, A.data(), K, B.data(), K, C.data(), N);
    benchmark::DoNotOptimize(C.data());
  }
  SetFlopCounters(state, 2.0 * M * N * K);
}

// Args: Tq, Tk, heads, head_dim, causal, kv (0: f32 K/V, 1: bf16 K/V as a bf16 KV cache).
void BM_Attention(benchmark::State& state) {
  const int64_t Tq = state.range(0), Tk = state.range(1), H = state.range(2), D = state.range(3);
  const bool causal = state.range(4) != 0, bf16 = state.range(5) != 0;
  std::vector<float> q = Random(static_cast<size_t>(Tq * H * D), 1), k = Random(static_cast<size_t>(Tk * H * D), 2),
                     v = Random(static_cast<size_t>(Tk * H * D), 3), o(static_cast<size_t>(Tq * H * D));
  kernels::AttentionArgs a{q.data(), H * D, k.data(), H * D, v.data(), H * D, o.data(), H * D,
                           Tq, Tk, H, H, D, D, 1.0f / std::sqrt(static_cast<float>(D)), causal};
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  if (bf16) {
    for (size_t i = 0; i < k.size(); ++i) k16[i] = F32ToBf16(k[i]), v16[i] = F32ToBf16(v[i]);
    a.k = k16.data();
    a.v = v16.data();
    a.kv_dtype = DType::kBF16;
  }
  for (auto _ : state) {
    kernels::Attention(Pool(), a);
    benchmark::DoNotOptimize(o.data());
  }
  // Useful FLOPs: QKᵀ and PV, halved under a causal mask when Tq == Tk.
  double flops = 4.0 * Tq * Tk * H * D;
  if (causal && Tq == Tk) flops /= 2;
  SetFlopCounters(state, flops);
}

// Args: C, image size, O, kernel (patch embedding when stride == kernel).
void BM_PatchEmbed(benchmark::State& state) {
  const int64_t C = state.range(0), S = state.range(1), O = state.range(2), k = state.range(3);
  Weight w(DType::kBF16, O, C * k * k, 1);
  TensorView wv(DType::kBF16, Shape{O, C, k, k}, w.half.data());
  std::vector<float> in = Random(static_cast<size_t>(C * S * S), 2);
  const int64_t G = S / k;
  std::vector<float> out(static_cast<size_t>(O * G * G));
  for (auto _ : state) {
    kernels::Conv2d(Pool(), in.data(), kernels::Conv2dArgs{C, S, S, O, k, k, k, 0}, wv, nullptr, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  SetFlopCounters(state, 2.0 * G * G * O * C * k * k);
}

// SigLIP-so400m block (729 tokens, 1152 -> 4304), prefill of a 1.3B-class LLM MLP, decode GEMVs,
// and small-M GEMMs (a few tokens, MoE experts) where packing W is not amortised over many rows.
BENCHMARK(BM_Linear)
    ->ArgNames({"M", "K", "N", "dtype"})
    ->Args({729, 1152, 4304, 1})
    ->Args({729, 1152, 4304, 0})
    ->Args({512, 2048, 5632, 1})
    ->Args({1, 2048, 5632, 1})
    ->Args({1, 4096, 11008, 1})
    ->Args({4, 2048, 5632, 1})
    ->Args({1, 1024, 256, 1})  // 512 KiB of weights, L2-resident: the GEMV's compute-side limit
    ->Args({16, 2048, 5632, 1})
    ->Args({64, 2048, 5632, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_GemvCold)->ArgNames({"K", "N"})->Args({2048, 5632})->Args({4096, 11008})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GemvColdPaired)
    ->ArgNames({"K", "N"})
    ->Args({2048, 5632})
    ->Args({4096, 11008})
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();
BENCHMARK(BM_GemmNT)->ArgNames({"M", "N", "K"})->Args({729, 729, 72})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Attention)
    ->ArgNames({"Tq", "Tk", "H", "D", "causal", "kv"})
    ->Args({729, 729, 16, 72, 0, 0})
    ->Args({576, 576, 16, 64, 0, 0})
    ->Args({512, 512, 16, 128, 1, 0})
    ->Args({512, 512, 16, 128, 1, 1})
    ->Args({1, 1024, 16, 128, 1, 0})
    ->Args({1, 1024, 16, 128, 1, 1})
    ->Args({1, 16384, 1, 128, 1, 0})
    ->Args({1, 16384, 1, 128, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_PatchEmbed)->ArgNames({"C", "S", "O", "k"})->Args({3, 384, 1152, 14})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace dsvl::bench

int main(int argc, char** argv) {
  using namespace dsvl::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  size_t mib = 1024;
  if (const char* e = std::getenv("DSVL_ROOFLINE_MIB")) mib = static_cast<size_t>(std::atol(e));
  Roof() = MeasureRoofline(Pool().size(), mib << 20);
  const std::string cpu = dsvl::CpuDescription();
  std::fprintf(stderr,
               "roofline: cpu=\"%s\" threads=%d isa=%s f32_fma=%.1f GFLOP/s (all threads at once: %.1f) "
               "bf16_dot=%.1f GFLOP/s "
               "dram_read=%.2f GB/s (loads only: %.2f; buffer %.0f MiB); kernels isa=%s\n",
               cpu.c_str(), Roof().threads, Roof().isa.c_str(), Roof().f32_fma_flops / 1e9,
               Roof().f32_fma_flops_all_threads / 1e9,
               Roof().bf16_dot_flops / 1e9, Roof().dram_read_bytes / 1e9, Roof().dram_read_plain_bytes / 1e9,
               Roof().dram_buffer_bytes / (1 << 20),
               dsvl::kernels::IsaName(dsvl::kernels::ActiveIsa()));
  benchmark::AddCustomContext("cpu_model", cpu);
  benchmark::AddCustomContext("kernels_isa", dsvl::kernels::IsaName(dsvl::kernels::ActiveIsa()));
  benchmark::AddCustomContext("bf16_activations", dsvl::kernels::Bf16ActivationsEnabled() ? "on" : "off");
  benchmark::AddCustomContext("roofline_threads", std::to_string(Roof().threads));
  benchmark::AddCustomContext("roofline_f32_fma_gflops", std::to_string(Roof().f32_fma_flops / 1e9));
  benchmark::AddCustomContext("roofline_f32_fma_gflops_all_threads_at_once",
                              std::to_string(Roof().f32_fma_flops_all_threads / 1e9));
  benchmark::AddCustomContext("roofline_bf16_dot_gflops", std::to_string(Roof().bf16_dot_flops / 1e9));
  benchmark::AddCustomContext("roofline_dram_read_gbs", std::to_string(Roof().dram_read_bytes / 1e9));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
