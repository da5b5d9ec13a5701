// The decoder's per-sequence cache: one [capacity, width] f32 block per layer, where a token's row
// is what attention needs of it later (MHA: roped K of every kv head, then V; MLA: the normed
// latent, then the roped shared k_pe). Rows [0, size) are valid; Forward writes rows
// [size, size+n) layer by layer and only then advances size, so a failed call leaves the cache as
// it was.
#pragma once

#include <cstdint>

#include "dsvl/tensor.h"
#include "llm/language_model.h"

namespace dsvl {

class DecoderKvCache final : public KvCache {
 public:
  DecoderKvCache(int64_t num_layers, int64_t width, int64_t capacity);

  int64_t size() const override { return size_; }
  int64_t capacity() const override { return capacity_; }
  void Clear() override { size_ = 0; }
  void Truncate(int64_t n) override;

  int64_t num_layers() const { return num_layers_; }
  int64_t width() const { return width_; }  // floats per token per layer
  // Row 0 of layer l; token t's row is layer(l) + t * width().
  float* layer(int64_t l) { return storage_.f32() + l * capacity_ * width_; }
  const float* layer(int64_t l) const { return storage_.f32() + l * capacity_ * width_; }
  // Marks rows [size, n) valid, after every layer has written them.
  void Commit(int64_t n);

 private:
  int64_t num_layers_, width_, capacity_;
  int64_t size_ = 0;
  Tensor storage_;
};

}  // namespace dsvl
