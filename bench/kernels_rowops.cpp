// Element-wise and row kernels, bilinear resize, RoPE and the 3x3 convolutions, at the shapes the
// models run them. These are memory-bound (or, for the convolutions, GEMM-bound): each reports the
// bytes it reads and writes per second (`bytes/s`) or FLOP/s against the FMA peak.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "kernel_bench_util.h"
#include "kernels/ops.h"

namespace dsvl::bench {
namespace {

enum class Act { kGeluErf, kGeluTanh, kSilu };

// Args: n, activation. In place over a copy of the input (the copy is included in the bytes).
void BM_Activation(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto act = static_cast<Act>(state.range(1));
  std::vector<float> x = Random(static_cast<size_t>(n), 1), y(x.size());
  for (auto _ : state) {
    std::memcpy(y.data(), x.data(), x.size() * sizeof(float));
    if (act == Act::kGeluErf) kernels::GeluErf(Pool(), y.data(), n);
    else if (act == Act::kGeluTanh) kernels::GeluTanh(Pool(), y.data(), n);
    else kernels::Silu(Pool(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  SetTrafficCounters(state, 4.0 * n * sizeof(float));  // memcpy read + write, kernel read + write
  state.SetLabel(act == Act::kGeluErf ? "gelu_erf" : act == Act::kGeluTanh ? "gelu_tanh" : "silu");
}

// SwiGLU of a prefill MLP: gate = silu(gate) * up.
void BM_SwiGlu(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> gate0 = Random(static_cast<size_t>(n), 1), up = Random(static_cast<size_t>(n), 2), gate(gate0);
  for (auto _ : state) {
    std::memcpy(gate.data(), gate0.data(), gate.size() * sizeof(float));
    kernels::SwiGlu(Pool(), gate.data(), up.data(), n);
    benchmark::DoNotOptimize(gate.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  SetTrafficCounters(state, 5.0 * n * sizeof(float));
}

// Residual add y += x.
void BM_Add(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> y = Random(static_cast<size_t>(n), 1), x = Random(static_cast<size_t>(n), 2);
  for (auto _ : state) {
    kernels::Add(Pool(), y.data(), x.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  SetTrafficCounters(state, 3.0 * n * sizeof(float));
}

// Args: rows, cols. Softmax of score rows (attention over `cols` keys), one row after another.
void BM_Softmax(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::vector<float> x0 = Random(static_cast<size_t>(rows * cols), 1), x(x0);
  for (auto _ : state) {
    std::memcpy(x.data(), x0.data(), x.size() * sizeof(float));
    for (int64_t r = 0; r < rows; ++r) kernels::SoftmaxRow(x.data() + r * cols, cols);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * rows * cols);
  SetTrafficCounters(state, 4.0 * rows * cols * sizeof(float));
}

// Args: rows, cols, layer (1) or RMS (0) norm; bf16 weights as in the checkpoints.
void BM_Norm(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const bool layer = state.range(2) != 0;
  std::vector<float> x = Random(static_cast<size_t>(rows * cols), 1), y(x.size());
  Weight w(DType::kBF16, 1, cols, 2), b(DType::kBF16, 1, cols, 3);
  const TensorView wv(DType::kBF16, Shape{cols}, w.half.data()), bv(DType::kBF16, Shape{cols}, b.half.data());
  for (auto _ : state) {
    if (layer) kernels::LayerNorm(Pool(), x.data(), rows, cols, wv, bv, 1e-6f, y.data());
    else kernels::RmsNorm(Pool(), x.data(), rows, cols, wv, 1e-6f, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * rows * cols);
  SetTrafficCounters(state, 2.0 * rows * cols * sizeof(float));
  state.SetLabel(layer ? "layer_norm" : "rms_norm");
}

// Args: tokens, heads, head_dim (rotated fully), style (0 rotate-half, 1 interleaved). Includes the
// table fill, as the model does once per pass.
void BM_Rope(benchmark::State& state) {
  const int64_t T = state.range(0), H = state.range(1), D = state.range(2);
  const auto style = state.range(3) ? kernels::RopeStyle::kInterleaved : kernels::RopeStyle::kRotateHalf;
  std::vector<float> x = Random(static_cast<size_t>(T * H * D), 1);
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = t;
  std::vector<float> cos(static_cast<size_t>(T * D / 2)), sin(cos.size());
  for (auto _ : state) {
    kernels::FillRopeTable(pos.data(), T, D, 10000.0f, cos.data(), sin.data());
    kernels::ApplyRope(x.data(), T, H, D, H * D, D, cos.data(), sin.data(), style);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * T * H * D);
  SetTrafficCounters(state, 2.0 * T * H * D * sizeof(float));
  state.SetLabel(state.range(3) ? "interleaved" : "rotate_half");
}

// Args: C, H, W, Ho, Wo, antialias. SAM's neck upsampling (64 -> 96, plain) and the VL1 hybrid
// tower's 1024 -> 384 image downscale (antialiased).
void BM_ResizeBilinear(benchmark::State& state) {
  const int64_t C = state.range(0), H = state.range(1), W = state.range(2), Ho = state.range(3), Wo = state.range(4);
  const bool aa = state.range(5) != 0;
  std::vector<float> in = Random(static_cast<size_t>(C * H * W), 1), out(static_cast<size_t>(C * Ho * Wo));
  for (auto _ : state) {
    kernels::ResizeBilinear(Pool(), in.data(), C, H, W, out.data(), Ho, Wo, aa);
    benchmark::DoNotOptimize(out.data());
  }
  SetTrafficCounters(state, static_cast<double>(C * (H * W + Ho * Wo)) * sizeof(float));
}

// Args: C, H (= W), O, kernel, stride, pad. SAM's neck 3x3 and the VL1 downsample convolutions.
void BM_Conv2d(benchmark::State& state) {
  const int64_t C = state.range(0), S = state.range(1), O = state.range(2), k = state.range(3),
                stride = state.range(4), pad = state.range(5);
  Weight w(DType::kBF16, O, C * k * k, 1);
  const TensorView wv(DType::kBF16, Shape{O, C, k, k}, w.half.data());
  std::vector<float> in = Random(static_cast<size_t>(C * S * S), 2);
  const int64_t G = kernels::ConvOutSize(S, k, stride, pad);
  std::vector<float> out(static_cast<size_t>(O * G * G));
  for (auto _ : state) {
    kernels::Conv2d(Pool(), in.data(), kernels::Conv2dArgs{C, S, S, O, k, k, stride, pad}, wv, nullptr, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  SetFlopCounters(state, 2.0 * G * G * O * C * k * k);
}

// 729 x 4304: a SigLIP-SO400M MLP activation; 512 x 5632: a prefill MLP of a 2048-wide LLM.
BENCHMARK(BM_Activation)
    ->ArgNames({"n", "act"})
    ->Args({729 * 4304, static_cast<int64_t>(Act::kGeluErf)})
    ->Args({729 * 4304, static_cast<int64_t>(Act::kGeluTanh)})
    ->Args({512 * 5632, static_cast<int64_t>(Act::kSilu)})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_SwiGlu)->Arg(512 * 5632)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Add)->Arg(512 * 2048)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Softmax)->ArgNames({"rows", "cols"})->Args({16 * 729, 729})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Norm)
    ->ArgNames({"rows", "cols", "layer"})
    ->Args({512, 2048, 0})
    ->Args({729, 1152, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_Rope)
    ->ArgNames({"T", "H", "D", "interleaved"})
    ->Args({512, 16, 128, 0})
    ->Args({512, 16, 64, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_ResizeBilinear)
    ->ArgNames({"C", "H", "W", "Ho", "Wo", "aa"})
    ->Args({256, 64, 64, 96, 96, 0})
    ->Args({3, 1024, 1024, 384, 384, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Conv2d)
    ->ArgNames({"C", "S", "O", "k", "stride", "pad"})
    ->Args({256, 64, 256, 3, 1, 1})
    ->Args({256, 96, 512, 3, 2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace dsvl::bench
