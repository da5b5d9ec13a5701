// One layer's block of the KV cache as the attention blocks see it: rows of `width` elements of
// `dtype`, token t's row at element t * width. An f32 block is written in place; a bf16 / f16 block
// is written through f32 staging rows (projections, RoPE and norms all produce f32) that Store()
// rounds into the cache, so only this chunk's rows are ever converted, never the whole cache.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace dsvl {

struct KvLayer {
  void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t width = 0;

  bool in_place() const { return dtype == DType::kF32; }
  // Where rows [t0, t0 + n) are written as f32: the cache itself (f32), else `staging` (room for n
  // rows).
  float* WriteRows(int64_t t0, float* staging) const {
    return in_place() ? static_cast<float*>(data) + t0 * width : staging;
  }
  // Rounds n staged rows (to nearest even) into cache rows [t0, t0 + n); nothing for f32.
  void Store(ThreadPool& pool, int64_t t0, int64_t n, const float* rows) const;
};

}  // namespace dsvl
