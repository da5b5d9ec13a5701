// Writing checkpoints too large to hold in memory: a .safetensors file whose header is planned up
// front and whose tensor bytes are then appended in order (dsvl quantize, make-model --quant), and
// the greedy sharding with a model.safetensors.index.json that Hugging Face uses.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dsvl {

struct PlannedTensor {
  std::string name;
  DType dtype = DType::kBF16;
  Shape shape;
  uint64_t bytes() const { return DTypeBytes(dtype, shape.numel()); }
};

class SafetensorsStreamWriter {
 public:
  // Creates `path` and writes the header (tensors in the given order, data 8-byte aligned).
  SafetensorsStreamWriter(const std::string& path, const std::vector<PlannedTensor>& tensors,
                          const std::map<std::string, std::string>& metadata);
  // The next bytes of tensor data, in header order.
  void Append(const void* data, size_t n);
  // Checks that exactly the planned bytes arrived and closes the file.
  void Finish();

 private:
  std::string path_;
  std::ofstream out_;
  uint64_t expected_ = 0, written_ = 0;
};

// Shards in order, each at most max_bytes (a tensor larger than that gets a shard of its own):
// indices into `tensors`.
std::vector<std::vector<size_t>> PlanShards(const std::vector<PlannedTensor>& tensors, uint64_t max_bytes);
// "model.safetensors" for one shard, else "model-0000i-of-0000n.safetensors".
std::string ShardFileName(size_t index, size_t count);
// model.safetensors.index.json: {"metadata": {"total_size"}, "weight_map": {tensor: shard}}.
void WriteShardIndex(const std::string& path, const std::vector<PlannedTensor>& tensors,
                     const std::vector<std::vector<size_t>>& shards, uint64_t total_bytes);

}  // namespace dsvl
