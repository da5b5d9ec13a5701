#include "serve/metrics.h"

#include <cstdio>

namespace dsvl::serve {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

void Metric(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  if (i < kBounds.size()) ++counts_[i];
  ++count_;
  sum_ += seconds;
}

void Histogram::Render(const std::string& name, const std::string& help, std::string& out) const {
  Metric(out, name.c_str(), "histogram", help.c_str());
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + Num(kBounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + Num(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

void Metrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::AddTokens(int64_t prompt, int64_t generated, int64_t cached) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
  cached_tokens_ += cached;
}

void Metrics::AddImagesEncoded(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  images_encoded_ += n;
}

void Metrics::ObserveTimeToFirstToken(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.Observe(seconds);
}

void Metrics::ObserveInterTokenLatency(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  itl_.Observe(seconds);
}

std::string Metrics::Render(int queue_length, int active_sequences, int slots, bool ready, const Steps& steps) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Metric(out, "dsvl_requests_total", "counter", "HTTP requests by endpoint and status code.");
  for (const auto& [key, n] : requests_) {
    out += "dsvl_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  }
  auto counter = [&](const char* name, const char* help, int64_t v) {
    Metric(out, name, "counter", help);
    out += std::string(name) + " " + std::to_string(v) + "\n";
  };
  counter("dsvl_prompt_tokens_total", "Prompt tokens (after image expansion), cached ones included.", prompt_tokens_);
  counter("dsvl_generated_tokens_total", "Generated tokens.", generated_tokens_);
  counter("dsvl_cached_prompt_tokens_total", "Prompt tokens served from a slot's KV cache.", cached_tokens_);
  counter("dsvl_images_encoded_total", "Images run through the vision tower (not served from a cache).",
          images_encoded_);
  counter("dsvl_batch_steps_total", "Batched language-model passes (steps of the step loop).", steps.steps);
  counter("dsvl_batch_rows_total", "Rows (decode tokens and prefill positions) over all steps.", steps.rows);
  ttft_.Render("dsvl_time_to_first_token_seconds", "From the request's arrival to its first generated token.", out);
  itl_.Render("dsvl_inter_token_latency_seconds", "Between consecutive generated tokens of a sequence.", out);
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    Metric(out, name, "gauge", help);
    out += std::string(name) + " " + std::to_string(v) + "\n";
  };
  gauge("dsvl_queue_length", "Requests waiting for a slot.", queue_length);
  gauge("dsvl_active_sequences", "Slots running a request.", active_sequences);
  gauge("dsvl_slots", "Slots (--parallel).", slots);
  gauge("dsvl_ready", "1 once the model is loaded.", ready ? 1 : 0);
  gauge("dsvl_batch_max_sequences", "The most sequences one step has carried so far.", steps.max_sequences);
  return out;
}

}  // namespace dsvl::serve
