// Tensors. A TensorView is a non-owning, contiguous, row-major view: weights are views into the
// mmapped checkpoint (bf16 stays bf16 until a kernel widens it), activations are views into Tensor
// buffers that the model allocates once per context, not per token.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

namespace dsvl {

// Element types. The block-quantised types (docs/quantization.md has their byte layout) store a
// row of a weight matrix as consecutive blocks of block_elems values; code that sizes buffers must
// go through DTypeBytes(), never sizeof(element).
//
// The *x8 types are in-memory only (never read from or written to a file): the same blocks with the
// quants of 8 consecutive rows interleaved, which the decode GEMV streams with one scale vector per
// 8 rows (docs/quantization.md, "Interleaved layouts"). A tensor of them has rows() a multiple of 8,
// takes exactly the bytes of its plain type, and can be sliced along rows only at multiples of 8.
enum class DType : uint8_t { kF32, kBF16, kF16, kI32, kI64, kU8, kBool, kQ8_0, kQ4_0, kQ4_K, kQ8_0x8, kQ4_0x8, kQ4_Kx8 };
// The plain block types, as stored in files.
constexpr bool IsQuantized(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0 || t == DType::kQ4_K; }
constexpr bool IsInterleavedQuant(DType t) { return t == DType::kQ8_0x8 || t == DType::kQ4_0x8 || t == DType::kQ4_Kx8; }
// The plain type whose blocks an interleaved type holds (t itself otherwise), and back.
constexpr DType PlainQuantType(DType t) {
  return t == DType::kQ8_0x8 ? DType::kQ8_0 : t == DType::kQ4_0x8 ? DType::kQ4_0 : t == DType::kQ4_Kx8 ? DType::kQ4_K : t;
}
constexpr DType InterleavedQuantType(DType t) {
  return t == DType::kQ8_0 ? DType::kQ8_0x8 : t == DType::kQ4_0 ? DType::kQ4_0x8 : t == DType::kQ4_K ? DType::kQ4_Kx8 : t;
}
constexpr int64_t kInterleavedRows = 8;

struct DTypeInfo {
  const char* name;     // safetensors spelling: "F32", "BF16", ...
  int block_elems;      // elements per block (1 for plain types)
  int block_bytes;      // bytes per block
};
const DTypeInfo& GetDTypeInfo(DType t);
inline const char* DTypeName(DType t) { return GetDTypeInfo(t).name; }
// Bytes for n elements; n must be a multiple of the block size.
size_t DTypeBytes(DType t, int64_t n);

inline float Bf16ToF32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Round to nearest even, as torch's .to(bfloat16); NaN stays NaN.
inline uint16_t F32ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
inline float RoundToBf16(float f) { return Bf16ToF32(F32ToBf16(f)); }
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

constexpr int kMaxRank = 4;

struct Shape {
  std::array<int64_t, kMaxRank> dims{};
  int rank = 0;
  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  int64_t operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims[static_cast<size_t>(i)]; }
  int64_t numel() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string ToString() const;  // "[2, 3]"
};

struct TensorView {
  DType dtype = DType::kF32;
  Shape shape;
  void* data = nullptr;

  TensorView() = default;
  TensorView(DType t, Shape s, const void* p) : dtype(t), shape(s), data(const_cast<void*>(p)) {}
  int64_t numel() const { return shape.numel(); }
  size_t nbytes() const { return DTypeBytes(dtype, numel()); }
  int rank() const { return shape.rank; }
  int64_t dim(int i) const { return shape[i < 0 ? shape.rank + i : i]; }
  // For a row-major tensor seen as [rows, last dim].
  int64_t cols() const { return shape.rank ? shape[shape.rank - 1] : 1; }
  int64_t rows() const { return shape.rank ? numel() / cols() : 1; }
  template <typename T> T* as() const { return static_cast<T*>(data); }
  float* f32() const { return static_cast<float*>(data); }
  bool empty() const { return data == nullptr; }
  // View of rows [begin, end) of the leading dimension.
  TensorView Slice0(int64_t begin, int64_t end) const;
  TensorView Reshape(Shape s) const;
};

// Owning, 64-byte aligned buffer.
class Tensor {
 public:
  Tensor() = default;
  static Tensor Empty(DType t, Shape s);
  static Tensor Zeros(DType t, Shape s);
  static Tensor F32(Shape s) { return Zeros(DType::kF32, s); }

  const TensorView& view() const { return view_; }
  operator TensorView() const { return view_; }
  DType dtype() const { return view_.dtype; }
  const Shape& shape() const { return view_.shape; }
  int64_t numel() const { return view_.numel(); }
  int64_t dim(int i) const { return view_.dim(i); }
  float* f32() const { return view_.f32(); }
  template <typename T> T* as() const { return view_.as<T>(); }
  bool empty() const { return view_.empty(); }
  // Changes the logical shape of the same storage (numel must not grow beyond capacity).
  void Reshape(Shape s);
  size_t capacity_bytes() const { return capacity_; }

 private:
  struct Free { void operator()(void* p) const; };
  std::unique_ptr<void, Free> buffer_;
  size_t capacity_ = 0;
  TensorView view_;
};

}  // namespace dsvl
