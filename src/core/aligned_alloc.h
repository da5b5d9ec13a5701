// 64-byte aligned allocation that reports failure as a dsvl error (ErrorCode::kOutOfMemory naming
// what was being allocated and how many bytes) instead of std::bad_alloc or a null pointer, so a
// hostile size or an exhausted machine surfaces as "out of memory: <what>: <n> bytes" at the API.
#pragma once

#include <cstddef>
#include <string_view>

namespace dsvl {

// Requests above this are refused without asking the allocator: no machine can satisfy them (2^48
// bytes is the whole 48-bit virtual address space), and sanitizer allocators abort on such sizes
// instead of returning null.
inline constexpr size_t kMaxAllocationBytes = size_t{1} << 48;

// Throws the kOutOfMemory error for a failed request of `bytes` bytes for `what`.
[[noreturn]] void ThrowOutOfMemory(std::string_view what, size_t bytes);

// Returns at least max(bytes, 1) bytes rounded up to 64, 64-byte aligned; free with std::free.
// *allocated (optional) receives the rounded size.
void* AlignedAllocOrThrow(size_t bytes, std::string_view what, size_t* allocated = nullptr);

}  // namespace dsvl
