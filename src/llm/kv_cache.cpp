#include "llm/kv_cache.h"

#include <string>

#include "dsvl/error.h"

namespace dsvl {

DecoderKvCache::DecoderKvCache(int64_t num_layers, int64_t width, int64_t capacity)
    : num_layers_(num_layers), width_(width), capacity_(capacity) {
  if (capacity <= 0) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"KV cache", "max_tokens", "> 0", std::to_string(capacity), ""});
  }
  // Empty, not Zeros: rows are written before they become valid, and untouched pages of a large
  // context stay unallocated.
  storage_ = Tensor::Empty(DType::kF32, Shape{num_layers, capacity, width});
}

void DecoderKvCache::Truncate(int64_t n) {
  if (n < 0) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"KV cache", "Truncate", ">= 0", std::to_string(n), ""});
  }
  if (n < size_) size_ = n;
}

void DecoderKvCache::Commit(int64_t n) {
  DSVL_CHECK(n >= size_ && n <= capacity_, "commit " + std::to_string(n) + " of " + std::to_string(capacity_));
  size_ = n;
}

}  // namespace dsvl
