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

// ---- Interleaved forms (DType kQ8_0x8, kQ4_0x8, kQ4_Kx8; in memory only). Rows come in groups of 8;
// a group is one row's blocks long: block b of the group holds block b of its 8 rows, with each
// row's quants cut into 4-byte pieces and the pieces of the 8 rows alternating, so that 32 bytes
// hold the same 4 positions of all 8 rows (row r's piece at byte 4r). A dot-product instruction
// then yields one row per 32-bit lane, and each block's 8 scales load as one vector.

// Block b of 8 Q8_0 rows: qs[32c + 4r + i] = row r's qs[4c + i] (c < 8).  272 bytes.
struct BlockQ8_0x8 {
  uint16_t d[8];  // f16, row r's d
  int8_t qs[256];
};
static_assert(sizeof(BlockQ8_0x8) == 8 * sizeof(BlockQ8_0));

// Block b of 8 Q4_0 rows: qs[32c + 4r + i] = row r's qs[4c + i] (c < 4): low nibbles are values
// 4c..4c+3, high nibbles values 16+4c..16+4c+3.  144 bytes.
struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0));

// Super-block b of 8 Q4_K rows: scales[8j + r] / mins[8j + r] = row r's scales[j] / mins[j];
// qs[256p + 32c + 4r + i] = row r's qs[32p + 4c + i] (p < 4, c < 8): in the 256 bytes of pair p,
// low nibbles are sub-block 2p, high nibbles sub-block 2p + 1.  1184 bytes.
struct BlockQ4_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scales[64];
  uint8_t mins[64];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K));

// Rewrites rows [8g, 8g + 8) of a plain quantised [N, K] matrix (`plain` of type t: Q8_0, Q4_0 or
// Q4_K) as group g of its interleaved form in `out` (both at the matrix's start). Callers split
// the groups across threads.
void InterleaveGroup(DType t, const void* plain, int64_t K, int64_t g, void* out);
// Row n of an interleaved [N, K] matrix (`matrix` at its start): plain blocks [block0, block0 + nblocks)
// of it written to `out` as the plain type's blocks (Q4_K: super-blocks).
void ExtractInterleavedRow(DType x8, const void* matrix, int64_t K, int64_t n, int64_t block0, int64_t nblocks,
                           void* out);

// Whether a row of `cols` values can be stored as `t` (cols a positive multiple of the block).
bool QuantizableRowLength(DType t, int64_t cols);  // t plain or interleaved

// Reference conversions of n values (n a multiple of t's block). Quantize picks scales from the
// data (round to nearest; Q4_K refines each sub-block's scale and minimum by least squares).
void QuantizeRow(DType t, const float* x, int64_t n, void* out);
void DequantizeRow(DType t, const void* in, int64_t n, float* out);

}  // namespace dsvl::quant
