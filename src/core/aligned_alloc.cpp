#include "core/aligned_alloc.h"

#include <cstdlib>
#include <string>

#include "dsvl/error.h"

namespace dsvl {

void ThrowOutOfMemory(std::string_view what, size_t bytes) {
  Throw(ErrorCode::kOutOfMemory,
        ErrorContext{std::string(what), "", "", "",
                     "cannot allocate " + std::to_string(bytes) + " bytes" +
                         (bytes > kMaxAllocationBytes ? " (larger than any address space)" : " (the allocator refused)")});
}

void* AlignedAllocOrThrow(size_t bytes, std::string_view what, size_t* allocated) {
  if (bytes > kMaxAllocationBytes) ThrowOutOfMemory(what, bytes);
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) ThrowOutOfMemory(what, rounded);
  if (allocated) *allocated = rounded;
  return p;
}

}  // namespace dsvl
