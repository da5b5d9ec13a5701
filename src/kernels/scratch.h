// Per-thread scratch buffers that the kernels reuse across calls, so the hot paths allocate only
// when a call needs more room than any call before it on that thread. Each slot is an independent
// buffer; a function must not hand a slot's pointer to code that requests the same slot.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsvl::kernels {

enum class ScratchSlot {
  kPackB,        // GEMM: widened, packed weight panel (worker threads)
  kTileA,        // GEMM: zero-padded activation rows for the last, partial row tile
  kBias,         // Linear: bias widened to f32 (calling thread)
  kSplitX,       // bf16-dot GEMV: activations split into bf16 terms (calling thread)
  kRoundedA,     // bf16-activation GEMM fallback: activations rounded to bf16 (calling thread)
  kScores,       // Attention: score rows (per task, on the thread running it)
  kAttnPartial,  // Attention decode: per key block softmax partials (calling thread)
  kKvRow,        // Attention decode: one half-precision K or V row widened to f32 (per task)
  kConvCols,     // Conv2d: im2col patches (calling thread)
  kConvOut,      // Conv2d: [pixels, O] result before the transpose to [O, pixels]
  kQuantX,       // quantised-weight GEMV: activations quantised to int8 blocks (calling thread)
  kDequantB,     // GEMM over quantised weights: rows of a weight panel dequantised to f32 (workers)
  kDequantRow,   // GEMM over interleaved quantised weights: one row taken out of its group (workers)
  kCount,
};

// Returns at least `bytes` bytes, 64-byte aligned, owned by the calling thread and valid until the
// next request for the same slot on this thread. Contents are unspecified. Throws dsvl::Error
// kOutOfMemory (naming the slot and the bytes) when the buffer cannot grow.
void* ThreadScratch(ScratchSlot slot, size_t bytes);

template <typename T>
T* ThreadScratchAs(ScratchSlot slot, size_t count) {
  // An overflowing count asks for SIZE_MAX bytes, which ThreadScratch refuses as out of memory.
  const size_t bytes = count > SIZE_MAX / sizeof(T) ? SIZE_MAX : count * sizeof(T);
  return static_cast<T*>(ThreadScratch(slot, bytes));
}

}  // namespace dsvl::kernels
