// `dsvl run`: one prompt (or an interactive chat) with images through the whole pipeline. Text
// streams to stdout; --json prints one object instead. Progress goes to stderr, only on a terminal.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "precision_option.h"
#include "quant_flags.h"
#include "dsvl/dsvl.h"
#include "model/prompt_builder.h"

namespace dsvl::cli {
namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> images;
  std::string prompt;
  std::string prompt_ids;
  int64_t max_new_tokens = 512;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int64_t top_k = 0;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  uint64_t seed = 0;
  bool json = false;
  int64_t logprobs = 0;
  int64_t chunk_size = 0;
  int threads = 0;
  std::string system;
  std::string draw_boxes;
  bool interactive = false;
  int64_t ctx = 0;
  Precision precision = Precision::kAuto;
  InputLimits limits;
  KvCacheType kv_type = KvCacheType::kAuto;
  bool ignore_eos = false;
  QuantFlags quant;  // --quant and its overrides
};

void Check(const Status& s) {
  if (!s.ok()) throw Error(s.code(), s.message());
}

void ProgressToTerminal(const Progress& p) {
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
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

TokenCallback StreamToStdout() {
  return [](int64_t, std::string_view piece) {
    WriteOut(piece);
    return true;
  };
}

void DrawIfAsked(const RunOptions& o, const std::vector<ImageInput>& images, const GenerateResult& res) {
  if (o.draw_boxes.empty()) return;
  if (res.boxes.empty()) std::fprintf(stderr, "dsvl: note: the answer has no boxes; writing the image as is\n");
  Check(DrawBoxesToPng(images.back(), res.boxes, o.draw_boxes));
}

void ReportWarnings(const GenerateResult& res) {
  for (const std::string& w : res.warnings) std::fprintf(stderr, "dsvl: warning: %s\n", w.c_str());
}

void RunOnce(const RunOptions& o) {
  if (o.prompt.empty() == o.prompt_ids.empty()) {
    Throw(ErrorCode::kInvalidArgument, "dsvl run: give exactly one of -p/--prompt and --prompt-ids (or -i)");
  }
  if (!o.draw_boxes.empty() && o.images.empty()) {
    Throw(ErrorCode::kInvalidArgument, "--draw-boxes: no --image to draw on");
  }
  std::vector<ImageInput> images;
  for (const std::string& path : o.images) images.push_back(ImageInput::FromPath(path));
  std::vector<int64_t> ids;
  if (!o.prompt_ids.empty()) ids = ParseIdList(o.prompt_ids);
  if (!ids.empty() && !o.system.empty()) {
    Throw(ErrorCode::kInvalidArgument, "dsvl run: --system needs -p, not --prompt-ids");
  }
  std::shared_ptr<Model> model = LoadModel(o);
  std::unique_ptr<Session> session;
  Check(Session::Create(model, &session));
  GenerateRequest req = BaseRequest(o);
  if (!ids.empty()) {
    req.prompt_ids = ids;
    req.images = images;
  } else {
    req.messages.push_back(Message{"user", o.prompt, images});
  }
  GenerateResult res;
  Check(session->Generate(req, &res, o.json ? TokenCallback() : StreamToStdout()));
  if (o.json) {
    WriteOut(ResultJson(res, o.logprobs > 0).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  } else {
    WriteOut("\n");
  }
  ReportWarnings(res);
  DrawIfAsked(o, images, res);
}

void RunInteractive(const RunOptions& o) {
  std::shared_ptr<Model> model = LoadModel(o);
  std::unique_ptr<Session> session;
  Check(Session::Create(model, &session));
  std::vector<ImageInput> pending;
  for (const std::string& path : o.images) pending.push_back(ImageInput::FromPath(path));
  std::vector<ImageInput> all_images;
  std::fprintf(stderr, "dsvl chat: /image PATH attaches an image, /reset clears the history, /quit exits.\n");
  std::string first = o.prompt;
  std::string line;
  while (true) {
    if (!first.empty()) {
      line = std::move(first);
      first.clear();
    } else {
      std::fprintf(stderr, "> ");
      std::fflush(stderr);
      if (!std::getline(std::cin, line)) break;
    }
    if (line.empty()) continue;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      session->Reset();
      pending.clear();
      all_images.clear();
      std::fprintf(stderr, "(history cleared)\n");
      continue;
    }
    if (line.rfind("/image ", 0) == 0) {
      pending.push_back(ImageInput::FromPath(line.substr(7)));
      std::fprintf(stderr, "(image attached to the next message)\n");
      continue;
    }
    GenerateRequest req = BaseRequest(o);
    req.messages.push_back(Message{"user", line, pending});
    GenerateResult res;
    const Status s = session->Generate(req, &res, StreamToStdout());
    if (!s.ok()) {
      // A bad turn (unreadable image, context full) leaves the history as it was; keep chatting.
      std::fprintf(stderr, "dsvl: error: %s\n", s.message().c_str());
      pending.clear();
      continue;
    }
    all_images.insert(all_images.end(), pending.begin(), pending.end());
    pending.clear();
    WriteOut("\n");
    ReportWarnings(res);
    if (!res.boxes.empty() && !o.draw_boxes.empty()) {
      Check(DrawBoxesToPng(all_images.back(), res.boxes, o.draw_boxes));
      std::fprintf(stderr, "(boxes drawn to %s)\n", o.draw_boxes.c_str());
    }
  }
}

}  // namespace

void AddRunCommand(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate an answer for a prompt with images");
  cmd->add_option("-m,--model", o->model, "model directory")->required();
  cmd->add_option("--image", o->images, "image file (repeat for several)");
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (images without a tag go before it)");
  cmd->add_option("--prompt-ids", o->prompt_ids,
                  "comma-separated, already formatted prompt ids (no BOS added; each image token id stands for the "
                  "next --image)");
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
  cmd->add_flag("--json", o->json, "print one JSON object instead of streaming text");
  cmd->add_option("--logprobs", o->logprobs, "with --json: per step the chosen id's log-probability and the N most likely ids")
      ->check(CLI::NonNegativeNumber);
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
  cmd->add_flag("-i,--interactive", o->interactive, "multi-turn chat on stdin");
  AddQuantFlags(cmd, o->quant);
  cmd->callback([o] {
    if (o->interactive) {
      if (!o->prompt_ids.empty()) Throw(ErrorCode::kInvalidArgument, "dsvl run: -i cannot be used with --prompt-ids");
      RunInteractive(*o);
    } else {
      RunOnce(*o);
    }
  });
}

}  // namespace dsvl::cli
