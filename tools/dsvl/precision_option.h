// `--precision auto|f32|bf16`, shared by the commands that load a model (run, bench).
#pragma once

#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "dsvl/dsvl.h"

namespace dsvl::cli {

inline void AddPrecisionOption(CLI::App* cmd, Precision* precision) {
  static const std::map<std::string, Precision> kNames{
      {"auto", Precision::kAuto}, {"f32", Precision::kF32}, {"bf16", Precision::kBf16}};
  cmd->add_option("--precision", *precision,
                  "activations of products with bf16 weights: auto (Zen 4/5: bf16 for vision, f32 for the LLM), f32, bf16")
      ->transform(CLI::CheckedTransformer(kNames, CLI::ignore_case));
}

}  // namespace dsvl::cli
