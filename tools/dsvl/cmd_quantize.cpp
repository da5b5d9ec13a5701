// `dsvl quantize -m DIR --type q8_0|q4_0|q4_k [--quant-embed T] [--quant-lm-head T]
// [--quant-vision T] [--shard-bytes N] [-t N] [--force] --out DIR2`: a complete model directory
// with block-quantised weights (model/quantize.h), which `-m DIR2` then loads mmapped.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "dsvl/error.h"
#include "model/quantize.h"
#include "quant_flags.h"

namespace dsvl::cli {
namespace {

struct QuantizeCliOptions {
  QuantizeCheckpointOptions lib;
  QuantFlags quant;
};

// One stderr line per 5% of the tensors: steady progress on a 27B model, a short log on a tiny one.
ConvertProgress StderrProgress() {
  auto last = std::make_shared<int64_t>(-1);
  return [last](int64_t done, int64_t total, const std::string& name) {
    const int64_t percent = total ? done * 100 / total / 5 * 5 : 100;
    if (percent == *last) return;
    *last = percent;
    std::fprintf(stderr, "quantize: %3lld%% (%lld/%lld tensors) %s\n", static_cast<long long>(percent),
                 static_cast<long long>(done), static_cast<long long>(total), name.c_str());
  };
}

}  // namespace

void AddQuantizeCommand(CLI::App& app) {
  auto o = std::make_shared<QuantizeCliOptions>();
  auto* cmd = app.add_subcommand("quantize", "Write a model directory with block-quantised weights");
  cmd->add_option("-m,--model", o->lib.model_dir, "model directory (bf16 or f32 weights)")->required();
  cmd->add_option("--type", o->quant.type, "q8_0, q4_0 or q4_k")->required();
  AddQuantFlags(cmd, o->quant, /*type_flag=*/"");
  cmd->add_option("-o,--out", o->lib.out_dir, "output directory (new or empty)")->required();
  cmd->add_flag("--force", o->lib.force, "write into a non-empty --out (its weight files are replaced)");
  cmd->add_option("--shard-bytes", o->lib.max_shard_bytes, "largest weight file before sharding (bytes, default 4 GiB)")
      ->default_val(uint64_t{4} << 30);
  cmd->add_option("-t,--threads", o->lib.threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->callback([o] {
    o->lib.quant = MakeQuantOptions(o->quant.type, o->quant.embed, o->quant.lm_head, o->quant.vision);
    o->lib.progress = StderrProgress();
    const auto start = std::chrono::steady_clock::now();
    const QuantizeSummary s = QuantizeCheckpoint(o->lib);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %lld tensors, %lld converted; %.1f%% of %lld parameters block-quantised\n",
                o->lib.out_dir.c_str(), static_cast<long long>(s.tensors), static_cast<long long>(s.tensors_converted),
                100.0 * s.QuantizedFraction(), static_cast<long long>(s.params));
    for (const auto& [type, n] : s.tensors_by_type) std::printf("  %-5s %lld tensors\n", type.c_str(), static_cast<long long>(n));
    std::printf("%.1f MiB -> %.1f MiB in %.1f s\n", static_cast<double>(s.bytes_before) / (1u << 20),
                static_cast<double>(s.bytes_after) / (1u << 20), seconds);
  });
}

}  // namespace dsvl::cli
