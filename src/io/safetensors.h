// Checkpoint weights from one or more .safetensors files (sharded checkpoints list their shards in
// model.safetensors.index.json). Files are mmapped; every TensorView points into the map.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace dsvl {

struct WeightInfo {
  std::string name;
  std::string file;   // shard path, for error messages
  TensorView view;    // dtype, shape, data (into the map)
};

struct SafetensorsLimits {
  size_t max_header_bytes = size_t{100} << 20;  // the format's own 100 MB header cap
  size_t max_tensors = 1u << 20;
  // model.safetensors.index.json: ~100 bytes per tensor name, so 64 MiB covers the tensor cap.
  size_t max_index_bytes = size_t{64} << 20;
};

class WeightStore {
 public:
  // A model directory (model.safetensors.index.json or *.safetensors) or a single .safetensors file.
  static std::unique_ptr<WeightStore> Open(const std::string& path,
                                           const SafetensorsLimits& limits = {});

  // nullptr when absent.
  const WeightInfo* Find(const std::string& name) const;
  bool Has(const std::string& name) const { return Find(name) != nullptr; }
  // Throws kNotFound naming the tensor and the checkpoint.
  const TensorView& Get(const std::string& name) const;
  // Also checks the shape, throwing kCorruptData "expected [a, b], got [c, d]".
  const TensorView& Get(const std::string& name, const Shape& expected) const;

  const std::map<std::string, WeightInfo>& tensors() const { return tensors_; }
  const std::string& source() const { return source_; }
  // Sum of tensor bytes.
  size_t total_bytes() const;

  // Replaces a tensor by memory the store owns (weights quantised or repacked at load): Get() then
  // returns a view of `owned`, which must keep the tensor's logical shape. A tensor replaced before
  // is freed. Views handed out before point to the old data, so replace before building the model.
  void Replace(const std::string& name, Tensor owned);
  // Drops this process's resident pages of a mapped tensor that will not be read again (whole
  // pages inside it only), so converting a large checkpoint does not keep the source resident.
  // A hint: the data stays valid (re-read from the file if touched).
  void ReleasePages(const std::string& name) const;

  // Adds one file's tensors (public for tests).
  void AddFile(const std::string& file, const SafetensorsLimits& limits);

 private:
  std::string source_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, WeightInfo> tensors_;
  std::map<std::string, Tensor> owned_;  // tensors Replace()d, viewed by their WeightInfo
};

// Writes tensors to a .safetensors file (for make-model and tests). Tensors are written in the given
// order with the given dtype; data must hold nbytes() bytes.
struct TensorToWrite {
  std::string name;
  TensorView view;
};
void WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace dsvl
