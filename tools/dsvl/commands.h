// Each `dsvl <command>` lives in its own cmd_*.cpp and registers itself on the app here. Commands
// throw dsvl::Error on bad input; main() prints it and exits with status 1.
#pragma once

#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "dsvl/dsvl.h"

namespace dsvl::cli {

// --kv-type auto|f32|bf16|f16, shared by run and bench.
inline void AddKvTypeOption(CLI::App* cmd, KvCacheType* out) {
  static const std::map<std::string, KvCacheType> kNames{
      {"auto", KvCacheType::kAuto}, {"f32", KvCacheType::kF32}, {"bf16", KvCacheType::kBF16}, {"f16", KvCacheType::kF16}};
  cmd->add_option("--kv-type", *out, "KV-cache element type: auto (the LLM weights' precision: bf16, or f32 for an "
                                     "f32 checkpoint), f32, bf16 or f16")
      ->transform(CLI::CheckedTransformer(kNames, CLI::ignore_case));
}

void AddTokenizeCommand(CLI::App& app);
void AddInspectCommand(CLI::App& app);
void AddMakeModelCommand(CLI::App& app);
void AddRunCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);
void AddQuantizeCommand(CLI::App& app);
void AddChatCommand(CLI::App& app);
void AddServeCommand(CLI::App& app);
void AddTrainCommand(CLI::App& app);

}  // namespace dsvl::cli
