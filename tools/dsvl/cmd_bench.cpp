// `dsvl bench`: one greedy generation of exactly -n tokens with an image, reported as JSON
// (image encode time, prefill and decode throughput, memory) for comparing builds and machines.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "quant_flags.h"
#include "core/cpu_info.h"
#include "dsvl/dsvl.h"

namespace dsvl::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string image;
  int64_t n = 128;
  std::string prompt = "Describe this image in detail.";
  int threads = 0;
  std::string out;
  int64_t chunk_size = 0;
  QuantFlags quant;  // --quant and its overrides
};

void Check(const Status& s) {
  if (!s.ok()) throw Error(s.code(), s.message());
}

void RunBench(const BenchOptions& o) {
  ModelOptions mo;
  mo.dir = o.model;
  mo.threads = o.threads;
  o.quant.ApplyTo(mo);
  std::shared_ptr<Model> model;
  Check(Model::Load(mo, &model));
  std::unique_ptr<Session> session;
  Check(Session::Create(model, &session));
  GenerateRequest req;
  req.messages.push_back(Message{"user", o.prompt, {ImageInput::FromPath(o.image)}});
  req.max_new_tokens = o.n;
  req.ignore_eos = true;  // always exactly n tokens, so runs are comparable
  req.prefill_chunk = o.chunk_size;
  GenerateResult res;
  Check(session->Generate(req, &res));

  nlohmann::ordered_json j;
  j["image_encode_ms"] = res.timings.image_encode_ms;
  j["prefill_tok_s"] = res.timings.prefill_tok_s;
  j["decode_tok_s"] = res.timings.decode_tok_s;
  j["prompt_tokens"] = res.prompt_tokens;
  j["generated_tokens"] = static_cast<int64_t>(res.ids.size());
  j["load_ms"] = res.timings.load_ms;
  j["peak_rss_mb"] = PeakRssMb();
  j["threads"] = model->info().threads;
  j["model"] = o.model;
  if (!o.quant.type.empty()) j["quant"] = o.quant.type;
  j["cpu"] = CpuDescription();
  const std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    if (!(f << text)) Throw(ErrorCode::kIo, ErrorContext{o.out, "", "", "", "cannot write the bench result"});
  }
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Time image encoding, prefill and decode of one greedy generation");
  cmd->add_option("-m,--model", o->model, "model directory")->required();
  cmd->add_option("--image", o->image, "image file")->required();
  cmd->add_option("-n", o->n, "tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text");
  cmd->add_option("-t,--threads", o->threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--chunk-size", o->chunk_size, "prompt tokens per prefill pass (0 = 512)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--out", o->out, "also write the JSON to this file");
  AddQuantFlags(cmd, o->quant);
  cmd->callback([o] { RunBench(*o); });
}

}  // namespace dsvl::cli
