// `dsvl make-model`: writes a random-weight checkpoint directory in the official layout for one of
// the released architectures (full size or a tiny stand-in): config.json, processor config(s),
// tokenizer.json + tokenizer_config.json and model.safetensors (sharded with an index above the
// shard size). Weights are generated and written in chunks, so memory stays small for any size.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/model_config.h"
#include "model/quant_policy.h"
#include "model/tensor_manifest.h"

namespace dsvl {

// Called after each written chunk: bytes written so far, total bytes, current file name.
using WriteProgress = std::function<void(uint64_t done, uint64_t total, const std::string& file)>;

struct MakeModelOptions {
  std::string arch;   // see ArchNames(): deepseek-vl-1.3b, deepseek-vl-7b, deepseek-vl2-tiny, ...
  bool tiny = false;  // hidden-64 stand-in with the same structure
  DType dtype = DType::kBF16;  // bf16 or f32
  uint64_t seed = 0;
  std::string tokenizer;  // a tokenizer.json (or a directory holding one) to copy; empty: synthetic
  std::string out_dir;
  bool config_only = false;  // everything except the weights
  uint64_t max_shard_bytes = uint64_t{4} << 30;
  WriteProgress progress;  // optional
  // --quant: the weights the quantisation policy converts are generated as f32 rows and written
  // quantised (streamed, never held whole), the rest in `dtype`.
  QuantOptions quant;
};

struct MakeModelResult {
  ModelConfig config;
  ParameterCounts params;
  uint64_t weight_bytes = 0;
  std::vector<std::string> files;  // file names written into out_dir
};

MakeModelResult MakeModel(const MakeModelOptions& options);

// The ModelConfig an --arch preset describes, parsed from its config.json the way a checkpoint's
// is (no files written, no weights): parameter counts of full-size models without 50 GB of disk.
ModelConfig PresetModelConfig(const std::string& arch, bool tiny, DType dtype = DType::kBF16);

struct WrittenCheckpoint {
  std::vector<std::string> files;  // model.safetensors, or model-0000i-of-0000n.safetensors + index
  uint64_t bytes = 0;              // tensor bytes
};

// Writes `manifest` with seeded random values (TensorInit: N(0, 0.02)-like uniform, ones, zeros) in
// `dtype` into dir, one file or shards of at most max_shard_bytes each (a tensor larger than that
// gets a shard of its own). Each tensor's values depend only on (seed, name). With `quant`, the
// tensors the policy converts are written in their planned type instead (quantised row by row from
// the same f32 values).
WrittenCheckpoint WriteRandomCheckpoint(const std::string& dir,
                                        const std::vector<ExpectedTensor>& manifest, DType dtype,
                                        uint64_t seed, uint64_t max_shard_bytes,
                                        const WriteProgress& progress = {},
                                        const QuantOptions& quant = {});

}  // namespace dsvl
