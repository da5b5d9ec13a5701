// Converting a checkpoint's weights to the types the quantisation policy (model/quant_policy.h)
// plans: in memory at load (ModelOptions::quant, `--quant`), or into a new model directory (`dsvl
// quantize`). Both go through the same ConvertRows, so a quantised directory holds bit for bit the
// tensors that --quant builds in memory from the same source.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "model/quant_policy.h"
#include "model/tensor_manifest.h"

namespace dsvl {

class WeightStore;

// Rows [r0, r1) of `src` (seen as [rows, cols]) converted to `target` (a block type or a float
// type) into `out`, which holds DTypeBytes(target, (r1 - r0) * cols). `row` is cols floats of
// scratch.
void ConvertRows(const TensorView& src, DType target, int64_t r0, int64_t r1, void* out, float* row);
// The whole tensor converted, rows split over the pool.
Tensor ConvertTensor(ThreadPool& pool, const TensorView& src, DType target);

// One checkpoint tensor and the dtype the policy gives it.
struct TensorConversion {
  std::string name;
  TensorView source;
  DType target = DType::kBF16;
  bool converted() const { return target != source.dtype; }
};
// Every tensor of the store, in manifest order and then the ones the manifest does not know (kept
// as they are). Throws kInvalidArgument if a tensor to convert is already quantised.
std::vector<TensorConversion> PlanConversions(const std::vector<ExpectedTensor>& manifest, const WeightStore& weights,
                                              const QuantOptions& options);

struct QuantizeSummary {
  int64_t tensors = 0, tensors_converted = 0;
  int64_t params = 0, params_quantized = 0;  // params_quantized: now in a block type
  uint64_t bytes_before = 0, bytes_after = 0;
  std::map<std::string, int64_t> tensors_by_type;  // after conversion, by dtype name
  double QuantizedFraction() const { return params ? static_cast<double>(params_quantized) / params : 0.0; }
};

// (tensors done, tensors total, current tensor name)
using ConvertProgress = std::function<void(int64_t done, int64_t total, const std::string& name)>;

// Replaces the planned tensors of `weights` by converted copies the store owns.
QuantizeSummary QuantizeInMemory(WeightStore& weights, const std::vector<ExpectedTensor>& manifest,
                                 const QuantOptions& options, ThreadPool& pool, const ConvertProgress& progress = {});

struct QuantizeCheckpointOptions {
  std::string model_dir;  // a model directory (config.json, safetensors, tokenizer ...)
  std::string out_dir;    // created; must be empty (or absent) unless force
  QuantOptions quant;
  bool force = false;     // allow a non-empty out_dir (its old weight files are removed)
  uint64_t max_shard_bytes = uint64_t{4} << 30;
  int threads = 0;        // <= 0: one per hardware thread
  ConvertProgress progress;
};

// `dsvl quantize`: copies every file of the model directory except the weights, and writes the
// weights converted (sharded with an index when larger than max_shard_bytes), with the header
// metadata "dsvl.quant.version" = kQuantContainerVersion. config.json is copied unchanged.
QuantizeSummary QuantizeCheckpoint(const QuantizeCheckpointOptions& options);

inline constexpr const char* kQuantContainerVersion = "1";
// The __metadata__ of a file dsvl writes with block-quantised tensors (docs/quantization.md).
std::map<std::string, std::string> QuantContainerMetadata(const std::string& writer);

}  // namespace dsvl
