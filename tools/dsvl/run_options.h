// What `run` and `chat` share: the model and generation flags, loading the model from them, the
// request they give, and writing streamed text / results to the terminal.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dsvl/dsvl.h"
#include "quant_flags.h"

namespace dsvl::cli {

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

// Throws the Status as a dsvl::Error (main prints it).
void Check(const Status& s);
// Progress on stderr when it is a terminal, else none.
ProgressCallback MaybeProgress();
std::shared_ptr<Model> LoadModel(const RunOptions& o);
// A request with the sampling / length / system flags and no messages yet.
GenerateRequest BaseRequest(const RunOptions& o);
nlohmann::ordered_json ResultJson(const GenerateResult& res, bool with_logprobs);
void WriteOut(std::string_view s);
TokenCallback StreamToStdout();
void ReportWarnings(const GenerateResult& res);
// -m, --image, -n, sampling, threads, context, precision, limits, kv type, --ignore-eos, --system,
// --draw-boxes and the quantisation flags.
void AddModelAndGenerationOptions(CLI::App* cmd, RunOptions* o);
// The terminal chat of `dsvl chat` and `dsvl run -i` (cmd_chat.cpp); o.prompt, if set, is the first message.
void RunChat(const RunOptions& o);

}  // namespace dsvl::cli
