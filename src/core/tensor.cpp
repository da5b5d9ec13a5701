#include "core/tensor.h"

#include <cstdlib>
#include <new>

#include "core/aligned_alloc.h"
#include "dsvl/error.h"

namespace dsvl {

const DTypeInfo& GetDTypeInfo(DType t) {
  static const DTypeInfo kInfo[] = {
      {"F32", 1, 4}, {"BF16", 1, 2}, {"F16", 1, 2}, {"I32", 1, 4},
      {"I64", 1, 8}, {"U8", 1, 1},   {"BOOL", 1, 1},
      // Block-quantised (kernels/quant_formats.h): elements per block, bytes per block.
      {"Q8_0", 32, 34}, {"Q4_0", 32, 18}, {"Q4_K", 256, 148},
      // In-memory interleaved forms: per row, the same bytes per block as the plain type.
      {"Q8_0x8", 32, 34}, {"Q4_0x8", 32, 18}, {"Q4_Kx8", 256, 148},
  };
  return kInfo[static_cast<int>(t)];
}

size_t DTypeBytes(DType t, int64_t n) {
  const DTypeInfo& info = GetDTypeInfo(t);
  return static_cast<size_t>(n / info.block_elems) * static_cast<size_t>(info.block_bytes);
}

float F16ToF32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) { mant <<= 1; --exp; }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t F32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(h);
}

Shape::Shape(std::initializer_list<int64_t> d) {
  if (d.size() > kMaxRank) Throw(ErrorCode::kUnsupported, "tensor rank > 4");
  for (int64_t v : d) dims[static_cast<size_t>(rank++)] = v;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (int i = 0; i < rank; ++i)
    if (dims[static_cast<size_t>(i)] != o.dims[static_cast<size_t>(i)]) return false;
  return true;
}

std::string Shape::ToString() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[static_cast<size_t>(i)]);
  }
  return s + "]";
}

TensorView TensorView::Slice0(int64_t begin, int64_t end) const {
  DSVL_CHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= shape[0], "slice out of range");
  // Interleaved quantised rows come in groups of 8: a slice must not split one.
  DSVL_CHECK(!IsInterleavedQuant(dtype) || (begin % kInterleavedRows == 0 && end % kInterleavedRows == 0),
             "slice of an interleaved tensor not at a multiple of 8 rows");
  int64_t inner = shape[0] ? numel() / shape[0] : 0;
  TensorView v = *this;
  v.shape[0] = end - begin;
  v.data = static_cast<char*>(data) + DTypeBytes(dtype, begin * inner);
  return v;
}

TensorView TensorView::Reshape(Shape s) const {
  DSVL_CHECK(s.numel() == numel(), "reshape " + shape.ToString() + " -> " + s.ToString());
  TensorView v = *this;
  v.shape = s;
  return v;
}

void Tensor::Free::operator()(void* p) const { std::free(p); }

Tensor Tensor::Empty(DType t, Shape s) {
  // Element count with overflow checks: a shape from a hostile config must become an error, not a
  // wrapped small size that the callers then write past.
  uint64_t numel = 1;
  bool too_big = false;
  for (int i = 0; i < s.rank; ++i) {
    const int64_t d = s[i];
    DSVL_CHECK(d >= 0, "negative tensor dimension " + s.ToString());
    if (d != 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(d)) too_big = true;
    numel *= static_cast<uint64_t>(d);
  }
  // Whole blocks of the type (one element per block for the float types) times the block's bytes;
  // numel <= 2^62 here, so the byte size is exact unless it passes 2^64 (then SIZE_MAX).
  const DTypeInfo& info = GetDTypeInfo(t);
  const uint64_t blocks = numel / static_cast<uint64_t>(info.block_elems);
  const uint64_t block_bytes = static_cast<uint64_t>(info.block_bytes);
  const size_t bytes = too_big || blocks > SIZE_MAX / block_bytes ? SIZE_MAX : static_cast<size_t>(blocks * block_bytes);
  size_t rounded = (bytes / 64 + (bytes % 64 != 0)) * 64;
  if (rounded == 0) rounded = 64;
  void* p = bytes > kMaxAllocationBytes ? nullptr : std::aligned_alloc(64, rounded);
  // The message is built only on failure: Empty runs in loops that must not allocate strings.
  if (!p) ThrowOutOfMemory(std::string("tensor ") + GetDTypeInfo(t).name + s.ToString(), bytes);
  Tensor out;
  out.buffer_.reset(p);
  out.capacity_ = rounded;
  out.view_ = TensorView(t, s, p);
  return out;
}

Tensor Tensor::Zeros(DType t, Shape s) {
  Tensor out = Empty(t, s);
  std::memset(out.view_.data, 0, out.capacity_);
  return out;
}

void Tensor::Reshape(Shape s) {
  DSVL_CHECK(DTypeBytes(view_.dtype, s.numel()) <= capacity_,
             "reshape beyond capacity " + s.ToString());
  view_.shape = s;
}

}  // namespace dsvl
