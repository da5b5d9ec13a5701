// The decoder's per-sequence cache: one [capacity, width] block per layer in the cache's dtype (f32,
// or bf16 / f16 at half the memory and half the bytes a decode step reads), where a token's row
// is what attention needs of it later (MHA: roped K of every kv head, then V; MLA: the normed
// latent, then the roped shared k_pe). Rows [0, size) are valid; Forward writes rows
// [size, size+n) layer by layer and only then advances size, so a failed call leaves the cache as
// it was.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "llm/blocks.h"
#include "llm/language_model.h"

namespace dsvl {

class DecoderKvCache final : public KvCache {
 public:
  // dtype: kF32, kBF16 or kF16.
  DecoderKvCache(int64_t num_layers, int64_t width, int64_t capacity, DType dtype = DType::kF32);

  int64_t size() const override { return size_; }
  int64_t capacity() const override { return capacity_; }
  void Clear() override { size_ = 0; }
  void Truncate(int64_t n) override;
  void CopyFrom(const KvCache& other) override;

  int64_t num_layers() const { return num_layers_; }
  int64_t width() const { return width_; }  // elements per token per layer
  DType dtype() const { return storage_.dtype(); }
  // Layer l's block; token t's row starts at element t * width().
  KvLayer layer(int64_t l) {
    return KvLayer{static_cast<char*>(storage_.view().data) + DTypeBytes(dtype(), l * capacity_ * width_), dtype(),
                   width_};
  }
  // Marks rows [size, n) valid, after every layer has written them.
  void Commit(int64_t n);

 private:
  int64_t num_layers_, width_, capacity_;
  int64_t size_ = 0;
  Tensor storage_;
};

}  // namespace dsvl
