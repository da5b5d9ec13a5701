#include "llm/kv_layer.h"

namespace dsvl {

void KvLayer::Store(ThreadPool& pool, int64_t t0, int64_t n, const float* rows) const {
  if (in_place()) return;
  uint16_t* dst = static_cast<uint16_t*>(data) + t0 * width;
  const bool bf16 = dtype == DType::kBF16;
  // A decode step stores one row per layer (inline); a prefill chunk's rows are split over the pool.
  pool.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0 * width; i < r1 * width; ++i) dst[i] = bf16 ? F32ToBf16(rows[i]) : F32ToF16(rows[i]);
  });
}

}  // namespace dsvl
