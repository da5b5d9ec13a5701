#include "roofline.h"

#include <immintrin.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace dsvl::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Independent FMA chains in named variables (an array would live in memory) hide the 4-5 cycle
// FMA latency on both pipes; the empty asm after each round keeps every chain live and in a
// register. Each returns the FLOPs done.
#define DSVL_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx2,fma"))) double FmaLoopAvx2(int64_t iters) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 c##i = _mm256_set1_ps(static_cast<float>(i));
  DSVL_CHAINS(DECL)
#undef DECL
  for (int64_t it = 0; it < iters; ++it) {
#define STEP(i) c##i = _mm256_fmadd_ps(c##i, a, b);
    DSVL_CHAINS(STEP)
#undef STEP
    __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6), "+x"(c7),
                     "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
  }
  __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, c##i);
  DSVL_CHAINS(SUM)
#undef SUM
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return static_cast<double>(iters) * 12 * 8 * 2;
}

__attribute__((target("avx512f"))) double FmaLoopAvx512(int64_t iters) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 c##i = _mm512_set1_ps(static_cast<float>(i));
  DSVL_CHAINS(DECL)
#undef DECL
  for (int64_t it = 0; it < iters; ++it) {
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
    DSVL_CHAINS(STEP)
#undef STEP
    __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7),
                     "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, c##i);
  DSVL_CHAINS(SUM)
#undef SUM
  volatile float sink = _mm512_cvtss_f32(s);
  (void)sink;
  return static_cast<double>(iters) * 12 * 16 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) double DotLoopBf16(int64_t iters) {
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3400);
#define DECL(i) __m512 c##i = _mm512_setzero_ps();
  DSVL_CHAINS(DECL)
#undef DECL
  for (int64_t it = 0; it < iters; ++it) {
#define STEP(i) c##i = _mm512_dpbf16_ps(c##i, a, b);
    DSVL_CHAINS(STEP)
#undef STEP
    __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7),
                     "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, c##i);
  DSVL_CHAINS(SUM)
#undef SUM
  volatile float sink = _mm512_cvtss_f32(s);
  (void)sink;
  return static_cast<double>(iters) * 12 * 32 * 2;  // 32 bf16 products + adds per instruction
}
#undef DSVL_CHAINS

double ScalarLoop(int64_t iters) {
  float acc[4] = {1, 2, 3, 4};
  for (int64_t it = 0; it < iters; ++it)
    for (float& a : acc) a = a * 0.999999f + 1e-7f;
  volatile float sink = acc[0] + acc[1] + acc[2] + acc[3];
  (void)sink;
  return static_cast<double>(iters) * 4 * 2;
}

// Runs fn(t) on `threads` dedicated threads at once (a pool hands tasks out dynamically, so one
// thread could take two); returns the wall time.
template <typename Fn>
double TimeOnThreads(int threads, Fn fn) {
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back([&fn, t] { fn(t); });
  for (auto& t : ts) t.join();
  return Seconds(t0, Clock::now());
}

// Runs `loop` on every thread at once; best of many short rounds: on a shared machine the best
// round is the one least disturbed by other work (rounds are a few scheduler slices long).
template <typename Loop>
double RateOnAllThreads(int threads, int64_t iters, Loop loop) {
  double best = 0;
  for (int round = 0; round < 15; ++round) {
    std::vector<double> flops(static_cast<size_t>(threads), 0.0);
    double s = TimeOnThreads(threads, [&](int t) { flops[static_cast<size_t>(t)] = loop(iters); });
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / s);
  }
  return best;
}

// Sums n words with AVX2 loads. With `prefetch_words` > 0 it also prefetches that far ahead, which on
// some CPUs streams faster than the hardware prefetchers alone (they stop at 4 KiB page edges).
__attribute__((target("avx2"))) uint64_t ReadSumAvx2(const uint64_t* p, size_t n, size_t prefetch_words) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if (prefetch_words) _mm_prefetch(reinterpret_cast<const char*>(p + i + prefetch_words), _MM_HINT_T0);
    if (prefetch_words) _mm_prefetch(reinterpret_cast<const char*>(p + i + prefetch_words + 8), _MM_HINT_T0);
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  uint64_t out[4];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), s);
  uint64_t r = out[0] + out[1] + out[2] + out[3];
  for (; i < n; ++i) r += p[i];
  return r;
}

uint64_t ReadSumScalar(const uint64_t* p, size_t n) {
  uint64_t r = 0;
  for (size_t i = 0; i < n; ++i) r += p[i];
  return r;
}

}  // namespace

uint64_t StreamReadSum(const void* p, size_t bytes) {
  const auto* w = static_cast<const uint64_t*>(p);
  return __builtin_cpu_supports("avx2") ? ReadSumAvx2(w, bytes / 8, 0) : ReadSumScalar(w, bytes / 8);
}

Roofline MeasureRoofline(int threads, size_t buffer_bytes) {
  Roofline r;
  r.threads = threads;
  const int64_t iters = 4'000'000;  // ~8 ms per round at 3 GHz
  // Peak = threads x the best single-thread rate: one thread finds a free core even when other
  // work holds another, so this is the hardware figure (and the conservative denominator). The
  // rate with all threads running at once is kept too.
  double (*fma_loop)(int64_t) = ScalarLoop;
  r.isa = "scalar";
  if (__builtin_cpu_supports("avx512f")) {
    r.isa = "avx512";
    fma_loop = FmaLoopAvx512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    r.isa = "avx2";
    fma_loop = FmaLoopAvx2;
  }
  r.f32_fma_flops = r.threads * RateOnAllThreads(1, iters, fma_loop);
  r.f32_fma_flops_all_threads = RateOnAllThreads(r.threads, iters, fma_loop);
  if (__builtin_cpu_supports("avx512bf16")) r.bf16_dot_flops = r.threads * RateOnAllThreads(1, iters, DotLoopBf16);

  // DRAM: each thread streams its own contiguous slice; pages are touched first (by the thread
  // that reads them) so the timed passes measure reads only.
  const size_t words = buffer_bytes / sizeof(uint64_t);
  auto* buf = static_cast<uint64_t*>(std::aligned_alloc(64, words * sizeof(uint64_t)));
  if (!buf) return r;
  const size_t per = (words / static_cast<size_t>(r.threads)) / 16 * 16;
  // Timed in 64 MiB chunks (each last touched a whole buffer ago, so it comes from DRAM), four passes,
  // best chunk: like the FLOP probe, this filters out chunks slowed by other work on the machine.
  // The threads live for the whole probe and meet at a barrier between chunks, whose completion
  // step stamps the time, so thread start-up is not part of any chunk.
  const bool avx2 = __builtin_cpu_supports("avx2");
  const size_t chunk = std::min<size_t>(per, (size_t{64} << 20) / sizeof(uint64_t) / static_cast<size_t>(r.threads) / 16 * 16);
  const size_t chunks_per_pass = per / chunk;
  const int passes = 4;
  std::vector<Clock::time_point> stamps;
  stamps.reserve(chunks_per_pass * passes + 1);
  std::barrier sync(r.threads, [&stamps]() noexcept { stamps.push_back(Clock::now()); });
  std::vector<uint64_t> sinks(static_cast<size_t>(r.threads));
  TimeOnThreads(r.threads, [&](int t) {
    uint64_t* p = buf + static_cast<size_t>(t) * per;
    for (size_t i = 0; i < per; ++i) p[i] = i;
    sync.arrive_and_wait();
    for (int pass = 0; pass < passes; ++pass)
      for (size_t c = 0; c < chunks_per_pass; ++c) {
        const uint64_t* q = p + c * chunk;
        // Odd passes prefetch 4 KiB ahead (prefetches past the slice are harmless hints).
        sinks[static_cast<size_t>(t)] += avx2 ? ReadSumAvx2(q, chunk, pass % 2 ? 512 : 0) : ReadSumScalar(q, chunk);
        sync.arrive_and_wait();
      }
  });
  double best[2] = {0, 0};  // plain loads, loads + software prefetch
  for (size_t i = 1; i < stamps.size(); ++i) {
    const size_t pass = (i - 1) / chunks_per_pass;
    double& b = best[pass % 2];
    b = std::max(b, static_cast<double>(chunk * sizeof(uint64_t)) * r.threads / Seconds(stamps[i - 1], stamps[i]));
  }
  volatile uint64_t sink = 0;
  for (uint64_t v : sinks) sink = sink + v;
  std::free(buf);
  r.dram_read_bytes = std::max(best[0], best[1]);
  r.dram_read_plain_bytes = best[0];
  r.dram_buffer_bytes = static_cast<double>(per * sizeof(uint64_t)) * r.threads;
  return r;
}

}  // namespace dsvl::bench
