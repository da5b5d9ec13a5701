// `dsvl bench`: one greedy generation of exactly -n tokens (EOS ignored), reported as JSON: image
// encode time, prefill and decode throughput, memory, and what decode and vision cost (bytes read per
// decoded token, vision FLOPs; model/cost_model.h), with the fraction of the machine's bandwidth /
// FLOP rate they reach when one is given or probed. The prompt is text with an image, or with
// --prompt-tokens N exactly N token ids (llama-bench style: BOS, then ordinary vocabulary ids), so
// prefill runs over N tokens and no image is needed.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_probes.h"
#include "commands.h"
#include "precision_option.h"
#include "quant_flags.h"
#include "core/cpu_info.h"
#include "dsvl/dsvl.h"
#include "io/image_decode.h"
#include "model/cost_model.h"
#include "model/engine.h"

namespace dsvl::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string image;
  int64_t n = 128;
  std::string prompt = "Describe this image in detail.";
  int64_t prompt_tokens = 0;
  int threads = 0;
  std::string out;
  int64_t chunk_size = 0;
  Precision precision = Precision::kAuto;
  KvCacheType kv_type = KvCacheType::kAuto;
  double mem_bw_gbs = 0;
  double peak_gflops = 0;
  bool probe = false;
  QuantFlags quant;  // --quant and its overrides
};

void Check(const Status& s) {
  if (!s.ok()) throw Error(s.code(), s.message());
}

// Exactly n ids: BOS (when the model has one), the image token if an image is given (expanded by the
// engine into the image's rows, which prompt_tokens then also counts), then ordinary ids — a plain
// English sentence's ids, repeated — up to n.
std::vector<int64_t> SyntheticPrompt(const Model& model, int64_t n, bool with_image) {
  std::vector<int64_t> filler;
  Check(model.Tokenize("The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.", false, &filler));
  if (filler.empty()) Throw(ErrorCode::kUnsupported, "dsvl bench --prompt-tokens: the tokenizer gives no ids for text");
  std::vector<int64_t> ids;
  if (model.info().bos_id >= 0 && n > 0) ids.push_back(model.info().bos_id);
  if (with_image) ids.push_back(model.impl().image_token_id());
  for (size_t i = 0; static_cast<int64_t>(ids.size()) < n + (with_image ? 1 : 0); ++i)
    ids.push_back(filler[i % filler.size()]);
  return ids;
}

void RunBench(const BenchOptions& o) {
  if (o.image.empty() && o.prompt_tokens == 0 && o.prompt.empty()) {
    Throw(ErrorCode::kInvalidArgument, "dsvl bench: give --image, --prompt-tokens or -p");
  }
  ModelOptions mo;
  mo.dir = o.model;
  mo.threads = o.threads;
  mo.precision = o.precision;
  mo.kv_type = o.kv_type;
  o.quant.ApplyTo(mo);
  std::shared_ptr<Model> model;
  Check(Model::Load(mo, &model));
  std::unique_ptr<Session> session;
  Check(Session::Create(model, &session));
  GenerateRequest req;
  std::vector<ImageInput> images;
  if (!o.image.empty()) images.push_back(ImageInput::FromPath(o.image));
  if (o.prompt_tokens > 0) {
    req.prompt_ids = SyntheticPrompt(*model, o.prompt_tokens, !images.empty());
    req.images = images;
  } else {
    req.messages.push_back(Message{"user", o.prompt, images});
  }
  req.max_new_tokens = o.n;
  req.ignore_eos = true;  // always exactly n tokens, so runs are comparable
  req.prefill_chunk = o.chunk_size;
  GenerateResult res;
  Check(session->Generate(req, &res));

  // Costs. The last decode step attends over every prompt and generated token but the last one.
  ModelImpl& impl = model->impl();
  const ModelConfig& cfg = impl.config();
  const auto generated = static_cast<int64_t>(res.ids.size());
  const int64_t context = res.prompt_tokens + (generated > 0 ? generated - 1 : 0);
  const DecodeWeightBytes wb = CountDecodeWeightBytes(cfg.llm, impl.weights());
  const int64_t kv_bytes = KvBytesRead(cfg.llm, context, impl.lm().kv_dtype());
  const int64_t bytes_per_token = wb.total() + kv_bytes;
  double mem_bw = o.mem_bw_gbs, peak = o.peak_gflops;
  if (o.probe) {
    if (mem_bw <= 0) mem_bw = ProbeReadBandwidthGbs(impl.pool());
    if (peak <= 0) peak = ProbeGemmGflops(impl.pool());
  }

  nlohmann::ordered_json j;
  j["image_encode_ms"] = res.timings.image_encode_ms;
  j["prefill_tok_s"] = res.timings.prefill_tok_s;
  j["decode_tok_s"] = res.timings.decode_tok_s;
  j["prompt_tokens"] = res.prompt_tokens;
  j["generated_tokens"] = generated;
  j["kv_type"] = model->info().kv_type;
  // The session's cache reservation (pages are only touched as the context grows).
  j["kv_cache_mb"] = static_cast<double>(model->info().kv_bytes_per_token * model->info().max_context) / (1 << 20);
  j["weight_bytes_per_token"] = wb.total();
  j["kv_bytes_per_token"] = kv_bytes;
  j["bytes_per_token"] = bytes_per_token;
  const double decode_gbs = static_cast<double>(bytes_per_token) * res.timings.decode_tok_s / 1e9;
  j["decode_gb_s"] = decode_gbs;
  if (mem_bw > 0) {
    j["mem_bw_gb_s"] = mem_bw;
    j["bandwidth_fraction"] = decode_gbs / mem_bw;
  }
  if (!images.empty()) {
    const RgbImage img = DecodeImageFile(o.image);
    int64_t views = 1;
    const double gflop = ImageFlops(cfg, impl.weights(), img.width, img.height, &views) / 1e9;
    j["vision_views"] = views;
    j["vision_gflop"] = gflop;
    const double gflops = res.timings.image_encode_ms > 0 ? gflop / (res.timings.image_encode_ms / 1e3) : 0.0;
    j["vision_gflop_s"] = gflops;
    if (peak > 0) {
      j["peak_gflop_s"] = peak;
      j["peak_fraction"] = gflops / peak;
    }
  }
  j["load_ms"] = res.timings.load_ms;
  j["peak_rss_mb"] = PeakRssMb();
  j["threads"] = model->info().threads;
  j["model"] = o.model;
  if (!o.quant.type.empty()) j["quant"] = o.quant.type;
  j["cpu"] = CpuDescription();
  j["isa"] = model->info().isa;
  j["interleaved_tensors"] = model->info().interleaved_tensors;
  j["bf16_activations"] = {{"llm", model->info().bf16_activations_llm},
                           {"vision", model->info().bf16_activations_vision}};
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
  cmd->add_option("--image", o->image, "image file (optional)");
  cmd->add_option("--prompt-tokens", o->prompt_tokens,
                  "a prompt of exactly N token ids (BOS first, if the model has one; -p is then not used)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-n", o->n, "tokens to generate (EOS ignored)")->check(CLI::PositiveNumber);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text");
  cmd->add_option("-t,--threads", o->threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--chunk-size", o->chunk_size, "prompt tokens per prefill pass (0 = 512)")
      ->check(CLI::NonNegativeNumber);
  AddPrecisionOption(cmd, &o->precision);
  AddKvTypeOption(cmd, &o->kv_type);
  cmd->add_option("--mem-bw-gbs", o->mem_bw_gbs, "memory bandwidth in GB/s, for bandwidth_fraction")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--peak-gflops", o->peak_gflops, "peak GFLOP/s, for the vision peak_fraction")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--probe", o->probe,
                "measure what --mem-bw-gbs / --peak-gflops do not give: a 1 GiB read with all threads and an "
                "f32 GEMM, best of 4 each (a few seconds, 1 GiB of memory)");
  cmd->add_option("--out", o->out, "also write the JSON to this file");
  AddQuantFlags(cmd, o->quant);
  cmd->callback([o] { RunBench(*o); });
}

}  // namespace dsvl::cli
