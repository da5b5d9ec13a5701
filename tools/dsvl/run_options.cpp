#include "run_options.h"

#include <unistd.h>

#include <cstdio>

#include "commands.h"
#include "precision_option.h"

namespace dsvl::cli {

void Check(const Status& s) {
  if (!s.ok()) throw Error(s.code(), s.message());
}

static void ProgressToTerminal(const Progress& p) {
  std::fprintf(stderr, "\r[%s %lld/%lld]", p.stage.c_str(), static_cast<long long>(p.done),
               static_cast<long long>(p.total));
  if (p.done >= p.total) std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

ProgressCallback MaybeProgress() {
  if (isatty(STDERR_FILENO)) return ProgressToTerminal;
  return {};
}

std::shared_ptr<Model> LoadModel(const RunOptions& o) {
  ModelOptions mo;
  mo.dir = o.model;
  mo.threads = o.threads;
  mo.max_context = o.ctx;
  mo.precision = o.precision;
  mo.limits = o.limits;
  mo.kv_type = o.kv_type;
  mo.progress = MaybeProgress();
  o.quant.ApplyTo(mo);
  std::shared_ptr<Model> model;
  Check(Model::Load(mo, &model));
  return model;
}

GenerateRequest BaseRequest(const RunOptions& o) {
  GenerateRequest r;
  r.sampling.temperature = o.temperature;
  r.sampling.top_p = o.top_p;
  r.sampling.top_k = o.top_k;
  r.sampling.min_p = o.min_p;
  r.sampling.repetition_penalty = o.repeat_penalty;
  r.sampling.seed = o.seed;
  r.max_new_tokens = o.max_new_tokens;
  r.ignore_eos = o.ignore_eos;
  r.logprobs = o.logprobs;
  r.prefill_chunk = o.chunk_size;
  r.system = o.system;
  r.progress = MaybeProgress();
  return r;
}

nlohmann::ordered_json ResultJson(const GenerateResult& res, bool with_logprobs) {
  nlohmann::ordered_json j;
  j["ids"] = res.ids;
  j["text"] = res.text;
  if (with_logprobs) {
    // Per step: the chosen id with its log-probability (under the raw logits, before sampling
    // edits), and the k most likely ids.
    nlohmann::ordered_json lps = nlohmann::ordered_json::array();
    for (const StepLogprobs& step : res.logprobs) {
      nlohmann::ordered_json top = nlohmann::ordered_json::array();
      for (const TokenLogprob& t : step.top) top.push_back({{"id", t.id}, {"logprob", t.logprob}});
      lps.push_back({{"id", step.id}, {"logprob", step.logprob}, {"top", std::move(top)}});
    }
    j["logprobs"] = std::move(lps);
  }
  j["prompt_tokens"] = res.prompt_tokens;
  j["finish_reason"] = FinishReasonName(res.finish_reason);
  j["timings"] = {{"load_ms", res.timings.load_ms},
                  {"image_encode_ms", res.timings.image_encode_ms},
                  {"prefill_tok_s", res.timings.prefill_tok_s},
                  {"decode_tok_s", res.timings.decode_tok_s}};
  j["peak_rss_mb"] = PeakRssMb();
  nlohmann::ordered_json boxes = nlohmann::ordered_json::array();
  for (const Box& b : res.boxes) {
    boxes.push_back({{"label", b.label}, {"box", {b.x1, b.y1, b.x2, b.y2}}, {"image", b.image_index}});
  }
  j["boxes"] = std::move(boxes);
  j["warnings"] = res.warnings;
  return j;
}

void WriteOut(std::string_view s) {
  // An empty piece may have a null data(): fwrite's buffer must not be null even for 0 bytes (UBSan).
  if (!s.empty()) std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

TokenCallback StreamToStdout() {
  return [](int64_t, std::string_view piece) {
    WriteOut(piece);
    return true;
  };
}

void ReportWarnings(const GenerateResult& res) {
  for (const std::string& w : res.warnings) std::fprintf(stderr, "dsvl: warning: %s\n", w.c_str());
}

void AddModelAndGenerationOptions(CLI::App* cmd, RunOptions* o) {
  cmd->add_option("-m,--model", o->model, "model directory")->required();
  cmd->add_option("--image", o->images, "image file (repeat for several)");
  cmd->add_option("-n,--max-new-tokens", o->max_new_tokens, "maximum tokens to generate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--temp", o->temperature, "temperature (0 = greedy)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", o->top_p, "nucleus sampling mass")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--top-k", o->top_k, "top-k sampling (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-p", o->min_p, "min-p sampling (0 = off)")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--repeat-penalty", o->repeat_penalty, "repetition penalty (1 = off)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "random seed for sampling");
  cmd->add_option("--chunk-size", o->chunk_size, "prompt tokens per prefill pass (0 = 512)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", o->threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-c,--ctx", o->ctx, "KV-cache size in tokens (0 = the model's maximum, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  AddPrecisionOption(cmd, &o->precision);
  cmd->add_option("--max-image-pixels", o->limits.max_image_pixels,
                  "refuse images with more pixels (width x height) than this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-images", o->limits.max_images, "refuse conversations with more images than this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  AddKvTypeOption(cmd, &o->kv_type);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "generate exactly -n tokens: EOS and stop strings do not end the answer");
  cmd->add_option("--system", o->system, "system prompt (VL1: replaces the default one)");
  cmd->add_option("--draw-boxes", o->draw_boxes, "write the last image with the answer's boxes to this PNG");
}

}  // namespace dsvl::cli
