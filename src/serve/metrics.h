// Server counters and latency histograms, rendered as Prometheus text (GET /metrics). Thread-safe;
// one short lock per event.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace dsvl::serve {

class Histogram {
 public:
  void Observe(double seconds);
  void Render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  static constexpr std::array<double, 14> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  60,  120};
  std::array<uint64_t, kBounds.size()> counts_{};  // per bucket (not cumulative)
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

class Metrics {
 public:
  void CountRequest(const std::string& endpoint, int status);
  void AddTokens(int64_t prompt, int64_t generated, int64_t cached);
  void AddImagesEncoded(int64_t n);
  void ObserveTimeToFirstToken(double seconds);
  void ObserveInterTokenLatency(double seconds);
  // The model's step loop (StepScheduler::Stats): how much its batched passes shared.
  struct Steps {
    int64_t steps = 0, rows = 0, max_sequences = 0;
  };
  // Gauges are read when rendering.
  std::string Render(int queue_length, int active_sequences, int slots, bool ready, const Steps& steps) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0, cached_tokens_ = 0, images_encoded_ = 0;
  Histogram ttft_, itl_;
};

}  // namespace dsvl::serve
