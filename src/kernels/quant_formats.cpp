#include "kernels/quant_formats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "dsvl/error.h"

namespace dsvl::quant {
namespace {

int NearestInt(float v) { return static_cast<int>(std::lrintf(v)); }

void CheckLength(DType t, int64_t n, const char* what) {
  if (!QuantizableRowLength(t, n))
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{what, "length", "a positive multiple of " + std::to_string(GetDTypeInfo(t).block_elems),
                       std::to_string(n), DTypeName(t)});
}

void QuantizeQ8_0(const float* x, BlockQ8_0* b) {
  float amax = 0.0f;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float inv = d > 0.0f ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  for (int i = 0; i < 32; ++i) b->qs[i] = static_cast<int8_t>(std::clamp(NearestInt(x[i] * inv), -127, 127));
}

void QuantizeQ4_0(const float* x, BlockQ4_0* b) {
  // The value of largest magnitude maps to -8 exactly, so its sign decides which end of [-8, 7] the
  // block uses, and one more step of range is used on that side.
  float extreme = 0.0f;
  for (int i = 0; i < 32; ++i)
    if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
  const float d = extreme / -8.0f;
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  for (int j = 0; j < 16; ++j) {
    const int lo = std::clamp(NearestInt(x[j] * inv) + 8, 0, 15);
    const int hi = std::clamp(NearestInt(x[j + 16] * inv) + 8, 0, 15);
    b->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

// Fits x ≈ scale * q - offset (q in [0, 15], offset >= 0) for one sub-block of 32: start from the
// min/max range, then alternate assigning q and a least-squares fit of (scale, offset).
void FitSubBlock(const float* x, float* scale, float* offset) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < 32; ++i) { lo = std::min(lo, x[i]); hi = std::max(hi, x[i]); }
  lo = std::min(lo, 0.0f);  // a non-negative offset: blocks of positive values start at 0
  float s = (hi - lo) / 15.0f, m = -lo;
  if (s <= 0.0f) { *scale = 0.0f; *offset = m; return; }
  float best_err = INFINITY, best_s = s, best_m = m;
  for (int iter = 0; iter < 4; ++iter) {
    double sq = 0, sqq = 0, sx = 0, sqx = 0, err = 0;
    int q[32];
    for (int i = 0; i < 32; ++i) {
      q[i] = std::clamp(NearestInt((x[i] + m) / s), 0, 15);
      const float e = s * static_cast<float>(q[i]) - m - x[i];
      err += static_cast<double>(e) * e;
    }
    if (err < best_err) { best_err = static_cast<float>(err); best_s = s; best_m = m; }
    for (int i = 0; i < 32; ++i) {
      sq += q[i]; sqq += static_cast<double>(q[i]) * q[i]; sx += x[i]; sqx += q[i] * static_cast<double>(x[i]);
    }
    const double det = 32.0 * sqq - sq * sq;
    if (det <= 0) break;
    const double ns = (32.0 * sqx - sq * sx) / det;  // x = ns * q + c, offset = -c
    const double nc = (sx - ns * sq) / 32.0;
    if (ns <= 0 || -nc < 0) break;  // keep the form scale > 0, offset >= 0
    s = static_cast<float>(ns);
    m = static_cast<float>(-nc);
  }
  *scale = best_s;
  *offset = best_m;
}

void QuantizeQ4_K(const float* x, BlockQ4_K* b) {
  float scale[8], offset[8], max_scale = 0.0f, max_offset = 0.0f;
  for (int j = 0; j < 8; ++j) {
    FitSubBlock(x + 32 * j, &scale[j], &offset[j]);
    max_scale = std::max(max_scale, scale[j]);
    max_offset = std::max(max_offset, offset[j]);
  }
  const float d = max_scale / 255.0f, dmin = max_offset / 255.0f;
  b->d = F32ToF16(d);
  b->dmin = F32ToF16(dmin);
  // Quantise with the scales as stored (f16 super-scales, 8-bit sub-scales), so q is chosen for the
  // values the kernels will actually use.
  const float dq = F16ToF32(b->d), dminq = F16ToF32(b->dmin);
  for (int j = 0; j < 8; ++j) {
    b->scales[j] = static_cast<uint8_t>(dq > 0.0f ? std::clamp(NearestInt(scale[j] / dq), 0, 255) : 0);
    b->mins[j] = static_cast<uint8_t>(dminq > 0.0f ? std::clamp(NearestInt(offset[j] / dminq), 0, 255) : 0);
  }
  for (int j = 0; j < 8; ++j) {
    const float s = dq * b->scales[j], m = dminq * b->mins[j];
    const float inv = s > 0.0f ? 1.0f / s : 0.0f;
    uint8_t* qs = b->qs + 32 * (j / 2);
    const int shift = (j % 2) * 4;
    for (int i = 0; i < 32; ++i) {
      const int q = std::clamp(NearestInt((x[32 * j + i] + m) * inv), 0, 15);
      if (shift == 0) qs[i] = static_cast<uint8_t>(q);
      else qs[i] = static_cast<uint8_t>(qs[i] | (q << 4));
    }
  }
}

}  // namespace

bool QuantizableRowLength(DType t, int64_t cols) {
  const int64_t block = GetDTypeInfo(t).block_elems;
  return (IsQuantized(t) || IsInterleavedQuant(t)) && cols > 0 && cols % block == 0;
}

namespace {

// Interleaves 8 rows' quant bytes: out[32c + 4r + i] = rows[r][c * 4 + i] for pieces c < n / 4.
void InterleavePieces(const uint8_t* const rows[8], int n, uint8_t* out) {
  for (int c = 0; c < n / 4; ++c)
    for (int r = 0; r < 8; ++r) std::memcpy(out + 32 * c + 4 * r, rows[r] + 4 * c, 4);
}
void ExtractPieces(const uint8_t* in, int r, int n, uint8_t* out) {
  for (int c = 0; c < n / 4; ++c) std::memcpy(out + 4 * c, in + 32 * c + 4 * r, 4);
}

}  // namespace

void InterleaveGroup(DType t, const void* plain, int64_t K, int64_t g, void* out) {
  CheckLength(t, K, "InterleaveGroup");
  const int64_t row_bytes = static_cast<int64_t>(DTypeBytes(t, K));
  const uint8_t* base = static_cast<const uint8_t*>(plain) + 8 * g * row_bytes;
  uint8_t* dst = static_cast<uint8_t*>(out) + 8 * g * row_bytes;
  const uint8_t* rows[8];
  switch (t) {
    case DType::kQ8_0:
      for (int64_t b = 0; b < K / 32; ++b) {
        auto* o = reinterpret_cast<BlockQ8_0x8*>(dst) + b;
        for (int r = 0; r < 8; ++r) {
          const auto* blk = reinterpret_cast<const BlockQ8_0*>(base + r * row_bytes) + b;
          o->d[r] = blk->d;
          rows[r] = reinterpret_cast<const uint8_t*>(blk->qs);
        }
        InterleavePieces(rows, 32, reinterpret_cast<uint8_t*>(o->qs));
      }
      return;
    case DType::kQ4_0:
      for (int64_t b = 0; b < K / 32; ++b) {
        auto* o = reinterpret_cast<BlockQ4_0x8*>(dst) + b;
        for (int r = 0; r < 8; ++r) {
          const auto* blk = reinterpret_cast<const BlockQ4_0*>(base + r * row_bytes) + b;
          o->d[r] = blk->d;
          rows[r] = blk->qs;
        }
        InterleavePieces(rows, 16, o->qs);
      }
      return;
    case DType::kQ4_K:
      for (int64_t b = 0; b < K / 256; ++b) {
        auto* o = reinterpret_cast<BlockQ4_Kx8*>(dst) + b;
        for (int r = 0; r < 8; ++r) {
          const auto* blk = reinterpret_cast<const BlockQ4_K*>(base + r * row_bytes) + b;
          o->d[r] = blk->d;
          o->dmin[r] = blk->dmin;
          for (int j = 0; j < 8; ++j) {
            o->scales[8 * j + r] = blk->scales[j];
            o->mins[8 * j + r] = blk->mins[j];
          }
        }
        for (int p = 0; p < 4; ++p) {
          for (int r = 0; r < 8; ++r) rows[r] = (reinterpret_cast<const BlockQ4_K*>(base + r * row_bytes) + b)->qs + 32 * p;
          InterleavePieces(rows, 32, o->qs + 256 * p);
        }
      }
      return;
    default:
      Throw(ErrorCode::kUnsupported, std::string("InterleaveGroup: ") + DTypeName(t));
  }
}

void ExtractInterleavedRow(DType x8, const void* matrix, int64_t K, int64_t n, int64_t block0, int64_t nblocks,
                           void* out) {
  DSVL_CHECK(n >= 0, "ExtractInterleavedRow: row");
  const int64_t row_bytes = static_cast<int64_t>(DTypeBytes(x8, K));
  const auto* in = static_cast<const uint8_t*>(matrix) + (n / 8) * 8 * row_bytes;  // the row's group
  const int r = static_cast<int>(n % 8);
  switch (x8) {
    case DType::kQ8_0x8:
      for (int64_t b = 0; b < nblocks; ++b) {
        const auto* i = reinterpret_cast<const BlockQ8_0x8*>(in) + block0 + b;
        auto* o = static_cast<BlockQ8_0*>(out) + b;
        o->d = i->d[r];
        ExtractPieces(reinterpret_cast<const uint8_t*>(i->qs), r, 32, reinterpret_cast<uint8_t*>(o->qs));
      }
      return;
    case DType::kQ4_0x8:
      for (int64_t b = 0; b < nblocks; ++b) {
        const auto* i = reinterpret_cast<const BlockQ4_0x8*>(in) + block0 + b;
        auto* o = static_cast<BlockQ4_0*>(out) + b;
        o->d = i->d[r];
        ExtractPieces(i->qs, r, 16, o->qs);
      }
      return;
    case DType::kQ4_Kx8:
      for (int64_t b = 0; b < nblocks; ++b) {
        const auto* i = reinterpret_cast<const BlockQ4_Kx8*>(in) + block0 + b;
        auto* o = static_cast<BlockQ4_K*>(out) + b;
        o->d = i->d[r];
        o->dmin = i->dmin[r];
        for (int j = 0; j < 8; ++j) {
          o->scales[j] = i->scales[8 * j + r];
          o->mins[j] = i->mins[8 * j + r];
        }
        for (int p = 0; p < 4; ++p) ExtractPieces(i->qs + 256 * p, r, 32, o->qs + 32 * p);
      }
      return;
    default:
      Throw(ErrorCode::kUnsupported, std::string("ExtractInterleavedRow: ") + DTypeName(x8));
  }
}

void QuantizeRow(DType t, const float* x, int64_t n, void* out) {
  CheckLength(t, n, "QuantizeRow");
  switch (t) {
    case DType::kQ8_0:
      for (int64_t b = 0; b < n / 32; ++b) QuantizeQ8_0(x + 32 * b, static_cast<BlockQ8_0*>(out) + b);
      return;
    case DType::kQ4_0:
      for (int64_t b = 0; b < n / 32; ++b) QuantizeQ4_0(x + 32 * b, static_cast<BlockQ4_0*>(out) + b);
      return;
    case DType::kQ4_K:
      for (int64_t b = 0; b < n / 256; ++b) QuantizeQ4_K(x + 256 * b, static_cast<BlockQ4_K*>(out) + b);
      return;
    default: break;
  }
  Throw(ErrorCode::kUnsupported, std::string("a row of ") + DTypeName(t) + " (plain block types only)");
}

void DequantizeRow(DType t, const void* in, int64_t n, float* out) {
  CheckLength(t, n, "DequantizeRow");
  switch (t) {
    case DType::kQ8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const BlockQ8_0& blk = static_cast<const BlockQ8_0*>(in)[b];
        const float d = F16ToF32(blk.d);
        for (int i = 0; i < 32; ++i) out[32 * b + i] = d * static_cast<float>(blk.qs[i]);
      }
      return;
    case DType::kQ4_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const BlockQ4_0& blk = static_cast<const BlockQ4_0*>(in)[b];
        const float d = F16ToF32(blk.d);
        for (int j = 0; j < 16; ++j) {
          out[32 * b + j] = d * static_cast<float>((blk.qs[j] & 15) - 8);
          out[32 * b + j + 16] = d * static_cast<float>((blk.qs[j] >> 4) - 8);
        }
      }
      return;
    case DType::kQ4_K:
      for (int64_t b = 0; b < n / 256; ++b) {
        const BlockQ4_K& blk = static_cast<const BlockQ4_K*>(in)[b];
        const float d = F16ToF32(blk.d), dmin = F16ToF32(blk.dmin);
        for (int j = 0; j < 8; ++j) {
          const float s = d * blk.scales[j], m = dmin * blk.mins[j];
          const uint8_t* qs = blk.qs + 32 * (j / 2);
          const int shift = (j % 2) * 4;
          for (int i = 0; i < 32; ++i) out[256 * b + 32 * j + i] = s * static_cast<float>((qs[i] >> shift) & 15) - m;
        }
      }
      return;
    default: break;
  }
  Throw(ErrorCode::kUnsupported, std::string("a row of ") + DTypeName(t) + " (plain block types only)");
}

}  // namespace dsvl::quant
