// `dsvl inspect`: what a checkpoint directory is (family, architecture, parameter counts, dtypes,
// size) and whether its tensors are exactly what its config says they should be: every tensor of
// the manifest present with the right shape, nothing unexpected.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/model_config.h"
#include "model/tensor_manifest.h"

namespace dsvl {

class WeightStore;

struct TensorProblem {
  enum class Kind { kMissing, kUnexpected, kWrongShape };
  Kind kind = Kind::kMissing;
  std::string name;
  Shape expected;    // kMissing, kWrongShape
  Shape actual;      // kUnexpected, kWrongShape
  std::string file;  // shard holding it (kUnexpected, kWrongShape)
};
const char* TensorProblemKindName(TensorProblem::Kind kind);

// Compares a checkpoint's tensors with the manifest. Problems are sorted by kind, then name.
std::vector<TensorProblem> CheckTensors(const std::vector<ExpectedTensor>& manifest,
                                        const WeightStore& weights);

struct DTypeStats {
  int64_t tensors = 0;
  int64_t params = 0;
  uint64_t bytes = 0;
};

// One checkpoint tensor as stored.
struct TensorEntry {
  std::string name;
  std::string dtype;  // safetensors dtype name
  Shape shape;
  uint64_t bytes = 0;
  std::string cls;    // TensorClassName of its manifest entry; "" when the manifest lacks it
};

struct InspectReport {
  std::string dir;
  ModelConfig config;  // from the config files alone (the weights are what is being checked)
  std::vector<ExpectedTensor> manifest;
  ParameterCounts params;  // of the manifest
  int64_t checkpoint_tensors = 0;
  int64_t checkpoint_params = 0;             // sum over the file's tensors
  std::map<std::string, DTypeStats> dtypes;  // by safetensors dtype name
  std::vector<TensorEntry> tensors;          // every checkpoint tensor, by name
  uint64_t file_bytes = 0;                   // all weight files together
  std::vector<std::string> weight_files;
  std::vector<TensorProblem> problems;
  // LoadModelConfig (what the engine runs) failing on these files, e.g. weights contradicting
  // config.
  std::string load_error;

  bool ok() const { return problems.empty() && load_error.empty(); }
};

// Throws dsvl::Error when the directory cannot be read at all (no config.json, corrupt
// safetensors).
InspectReport InspectModel(const std::string& dir);

// list_tensors: also one line per tensor (name, dtype, shape, bytes).
std::string FormatInspectReport(const InspectReport& report, bool list_tensors = false);
nlohmann::ordered_json InspectReportJson(const InspectReport& report);

}  // namespace dsvl
