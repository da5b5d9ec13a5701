#include "kernels/scratch.h"

#include <cstdlib>

#include "core/aligned_alloc.h"

namespace dsvl::kernels {
namespace {

struct Buffer {
  void* data = nullptr;
  size_t bytes = 0;
  ~Buffer() { std::free(data); }
};

struct ThreadBuffers {
  Buffer slots[static_cast<size_t>(ScratchSlot::kCount)];
};

const char* SlotName(ScratchSlot slot) {
  switch (slot) {
    case ScratchSlot::kPackB: return "kernel scratch (GEMM packed weights)";
    case ScratchSlot::kTileA: return "kernel scratch (GEMM activation tile)";
    case ScratchSlot::kBias: return "kernel scratch (bias)";
    case ScratchSlot::kSplitX: return "kernel scratch (GEMV split activations)";
    case ScratchSlot::kRoundedA: return "kernel scratch (bf16-rounded activations)";
    case ScratchSlot::kScores: return "kernel scratch (attention scores)";
    case ScratchSlot::kAttnPartial: return "kernel scratch (attention partials)";
    case ScratchSlot::kKvRow: return "kernel scratch (attention half-precision K/V row)";
    case ScratchSlot::kConvCols: return "kernel scratch (conv2d patches)";
    case ScratchSlot::kConvOut: return "kernel scratch (conv2d output)";
    case ScratchSlot::kQuantX: return "kernel scratch (int8-quantised activations)";
    case ScratchSlot::kDequantB: return "kernel scratch (dequantised weight panel)";
    case ScratchSlot::kDequantRow: return "kernel scratch (row taken out of an interleaved group)";
    case ScratchSlot::kCount: break;
  }
  return "kernel scratch";
}

}  // namespace

void* ThreadScratch(ScratchSlot slot, size_t bytes) {
  thread_local ThreadBuffers buffers;
  Buffer& b = buffers.slots[static_cast<size_t>(slot)];
  if (b.bytes < bytes || b.data == nullptr) {
    // Grow geometrically so a sequence of slightly larger requests does not reallocate each time
    // (falling back to the exact size when doubling would pass the allocation cap).
    size_t want = bytes < 2 * b.bytes && 2 * b.bytes <= kMaxAllocationBytes ? 2 * b.bytes : bytes;
    // A failed request throws kOutOfMemory naming the slot and leaves the old buffer in place.
    size_t allocated = 0;
    void* p = AlignedAllocOrThrow(want, SlotName(slot), &allocated);
    std::free(b.data);
    b.data = p;
    b.bytes = allocated;
  }
  return b.data;
}

}  // namespace dsvl::kernels
