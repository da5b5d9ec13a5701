#include "kernels/scratch.h"

#include <cstdlib>
#include <new>

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

}  // namespace

void* ThreadScratch(ScratchSlot slot, size_t bytes) {
  thread_local ThreadBuffers buffers;
  Buffer& b = buffers.slots[static_cast<size_t>(slot)];
  if (b.bytes < bytes || b.data == nullptr) {
    // Grow geometrically so a sequence of slightly larger requests does not reallocate each time.
    size_t want = bytes < 2 * b.bytes ? 2 * b.bytes : bytes;
    want = (want + 63) / 64 * 64;
    if (want == 0) want = 64;
    void* p = std::aligned_alloc(64, want);
    if (!p) throw std::bad_alloc();
    std::free(b.data);
    b.data = p;
    b.bytes = want;
  }
  return b.data;
}

}  // namespace dsvl::kernels
