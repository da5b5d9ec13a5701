#include "quant_flags.h"

namespace dsvl::cli {

void AddQuantFlags(CLI::App* cmd, QuantFlags& flags, const std::string& type_flag) {
  if (!type_flag.empty())
    cmd->add_option(type_flag, flags.type,
                    "quantise the weights at load: q8_0, q4_0 or q4_k (a bf16/f32 checkpoint; see README)");
  cmd->add_option("--quant-embed", flags.embed,
                  "embed_tokens type: q8_0|q4_0|q4_k, or bf16|f16|f32 to keep floats (default: q8_0 under a "
                  "4-bit type, else the type)");
  cmd->add_option("--quant-lm-head", flags.lm_head, "lm_head type (as --quant-embed)");
  cmd->add_option("--quant-vision", flags.vision,
                  "vision towers' and projector's Linear layers: q8_0|q4_0|q4_k|bf16|f16|f32 (default: kept)");
}

}  // namespace dsvl::cli
