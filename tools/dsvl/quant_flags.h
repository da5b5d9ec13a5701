// The weight-quantisation flags shared by `run`, `bench` and `quantize`: --quant TYPE and the
// per-class overrides (model/quant_policy.h has the policy they adjust).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "dsvl/dsvl.h"

namespace dsvl::cli {

struct QuantFlags {
  std::string type;  // --quant (run, bench) or --type (quantize)
  std::string embed, lm_head, vision;
  void ApplyTo(ModelOptions& options) const {
    options.quant = type;
    options.quant_embed = embed;
    options.quant_lm_head = lm_head;
    options.quant_vision = vision;
  }
};

// Adds the three overrides, and --quant unless type_flag is empty (quantize names it --type).
void AddQuantFlags(CLI::App* cmd, QuantFlags& flags, const std::string& type_flag = "--quant");

}  // namespace dsvl::cli
