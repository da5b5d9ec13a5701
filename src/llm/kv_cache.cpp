#include "llm/kv_cache.h"

#include <cstring>
#include <string>

#include "dsvl/error.h"

namespace dsvl {

DecoderKvCache::DecoderKvCache(int64_t num_layers, int64_t width, int64_t capacity, DType dtype)
    : num_layers_(num_layers), width_(width), capacity_(capacity) {
  if (capacity <= 0) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"KV cache", "max_tokens", "> 0", std::to_string(capacity), ""});
  }
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"KV cache", "dtype", "f32, bf16 or f16", DTypeName(dtype), ""});
  }
  // Empty, not Zeros: rows are written before they become valid, and untouched pages of a large
  // context stay unallocated.
  storage_ = Tensor::Empty(dtype, Shape{num_layers, capacity, width});
}

void DecoderKvCache::Truncate(int64_t n) {
  if (n < 0) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"KV cache", "Truncate", ">= 0", std::to_string(n), ""});
  }
  if (n < size_) size_ = n;
}

void DecoderKvCache::CopyFrom(const KvCache& other) {
  const auto* src = dynamic_cast<const DecoderKvCache*>(&other);
  if (!src || src->num_layers_ != num_layers_ || src->width_ != width_ || src->dtype() != dtype()) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"KV cache", "CopyFrom", "a cache of the same model and dtype", "another layout", ""});
  }
  if (src->size_ > capacity_) {
    Throw(ErrorCode::kLimitExceeded, ErrorContext{"KV cache", "CopyFrom", "<= " + std::to_string(capacity_) + " rows",
                                                  std::to_string(src->size_), ""});
  }
  if (src == this) return;
  // Layer by layer: the blocks are [capacity, width] each, and the capacities may differ.
  const size_t bytes = DTypeBytes(dtype(), src->size_ * width_);
  for (int64_t l = 0; l < num_layers_; ++l) {
    const char* from =
        static_cast<const char*>(src->storage_.view().data) + DTypeBytes(dtype(), l * src->capacity_ * width_);
    if (bytes > 0) std::memcpy(layer(l).data, from, bytes);
  }
  size_ = src->size_;
}

void DecoderKvCache::Commit(int64_t n) {
  DSVL_CHECK(n >= size_ && n <= capacity_, "commit " + std::to_string(n) + " of " + std::to_string(capacity_));
  size_ = n;
}

}  // namespace dsvl
