// Block-quantised weight formats: the byte layout of one block of each type, and the scalar
// reference conversions from and to f32. A quantised [N, K] weight is N rows of K/block_elems
// consecutive blocks (K must be a multiple of the block: see QuantizableRowLength). The layouts are
// dsvl's own (docs/quantization.md): blocks are small structs of one or two f16 scales followed
// by the packed integers, so a SIMD kernel loads a block's quants with one unaligned load.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace dsvl::quant {

// Q8_0: 32 values as int8 with one f16 scale: x = d * q.  34 bytes, 8.5 bits per weight.
struct BlockQ8_0 {
  uint16_t d;     // f16
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: 32 values as 4-bit unsigned with one f16 scale: x = d * (q - 8). Byte j holds value j in its
// low nibble and value j + 16 in its high nibble. 18 bytes, 4.5 bits per weight.
struct BlockQ4_0 {
  uint16_t d;     // f16
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_K: a super-block of 256 values = 8 sub-blocks of 32. Each sub-block j has an 8-bit scale and
// an 8-bit minimum, themselves scaled by the super-block's f16 d and dmin:
//   x = d * scales[j] * q - dmin * mins[j],   q in [0, 15].
// qs holds sub-blocks in pairs: bytes [32p, 32p + 32) carry sub-block 2p in their low nibbles and
// sub-block 2p + 1 in their high nibbles (value i of the sub-block in byte 32p + i).
// 148 bytes, 4.625 bits per weight.
struct BlockQ4_K {
  uint16_t d;      // f16
  uint16_t dmin;   // f16
  uint8_t scales[8];
  uint8_t mins[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 148);

// Whether a row of `cols` values can be stored as `t` (cols a positive multiple of the block).
bool QuantizableRowLength(DType t, int64_t cols);

// Reference conversions of n values (n a multiple of t's block). Quantize picks scales from the
// data (round to nearest; Q4_K refines each sub-block's scale and minimum by least squares).
void QuantizeRow(DType t, const float* x, int64_t n, void* out);
void DequantizeRow(DType t, const void* in, int64_t n, float* out);

}  // namespace dsvl::quant
