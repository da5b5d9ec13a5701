// Round trips of the block-quantised formats: sizes, the error bound each format promises, exact
// representation of values on its grid, and refusal of rows that are not whole blocks.
#include "kernels/quant_formats.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "core/tensor.h"
#include "kernels/ops.h"

namespace dsvl::quant {
namespace {

std::vector<float> RandomRow(int64_t n, uint32_t seed, float scale = 1.0f, float shift = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(shift, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

std::vector<float> RoundTrip(DType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(DTypeBytes(t, n));
  QuantizeRow(t, x.data(), n, q.data());
  std::vector<float> y(x.size());
  DequantizeRow(t, q.data(), n, y.data());
  return y;
}

TEST(QuantFormats, BytesPerBlock) {
  EXPECT_EQ(DTypeBytes(DType::kQ8_0, 64), 68u);
  EXPECT_EQ(DTypeBytes(DType::kQ4_0, 64), 36u);
  EXPECT_EQ(DTypeBytes(DType::kQ4_K, 512), 296u);
  EXPECT_STREQ(DTypeName(DType::kQ4_K), "Q4_K");
  EXPECT_TRUE(IsQuantized(DType::kQ8_0));
  EXPECT_FALSE(IsQuantized(DType::kBF16));
}

// A tensor of a block type owns whole blocks' bytes (a per-element size would round 34/32 bytes
// down to nothing and leave the quantiser writing past the buffer).
TEST(QuantFormats, TensorOfABlockTypeOwnsItsBlocks) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    const Tensor q = Tensor::Empty(t, Shape{3, 512});
    EXPECT_EQ(q.view().nbytes(), DTypeBytes(t, 3 * 512)) << DTypeName(t);
    EXPECT_GE(q.capacity_bytes(), DTypeBytes(t, 3 * 512)) << DTypeName(t);
  }
}

TEST(QuantFormats, Q8_0ErrorWithinHalfAStep) {
  const std::vector<float> x = RandomRow(1024, 1);
  const std::vector<float> y = RoundTrip(DType::kQ8_0, x);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0;
    for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * b + i]));
    const float step = amax / 127.0f;
    // half a step from rounding the value, plus the f16 rounding of the scale (2^-11 relative) x 127
    for (size_t i = 0; i < 32; ++i) EXPECT_LE(std::fabs(y[32 * b + i] - x[32 * b + i]), 0.5f * step + amax * 1e-3f);
  }
}

TEST(QuantFormats, Q4_0ErrorWithinHalfAStepAndExtremeExact) {
  const std::vector<float> x = RandomRow(1024, 2);
  const std::vector<float> y = RoundTrip(DType::kQ4_0, x);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float extreme = 0;
    size_t at = 0;
    for (size_t i = 0; i < 32; ++i)
      if (std::fabs(x[32 * b + i]) > std::fabs(extreme)) { extreme = x[32 * b + i]; at = i; }
    const float step = std::fabs(extreme) / 8.0f;
    EXPECT_NEAR(y[32 * b + at], extreme, std::fabs(extreme) * 1e-3f);
    for (size_t i = 0; i < 32; ++i) {
      // The grid is [-8, 7] steps with the extreme at -8: values of the other sign beyond 7 steps clip.
      const float v = x[32 * b + i];
      float limit = 0.5f * step;
      if (v * extreme < 0) limit = std::max(limit, std::fabs(v) - 7.0f * step);
      EXPECT_LE(std::fabs(y[32 * b + i] - v), limit + step * 1e-2f);
    }
  }
}

TEST(QuantFormats, Q4_KBeatsMinMaxGridAndHandlesOffsets) {
  // Values all positive, all negative and mixed, at different magnitudes per sub-block.
  for (float shift : {0.0f, 3.0f, -3.0f}) {
    std::vector<float> x = RandomRow(2048, 3, 1.0f, shift);
    for (size_t i = 0; i < x.size(); ++i) x[i] *= 1.0f + static_cast<float>((i / 32) % 5);
    const std::vector<float> y = RoundTrip(DType::kQ4_K, x);
    double err = 0, minmax_err = 0;
    for (size_t s = 0; s < x.size() / 32; ++s) {
      float lo = x[32 * s], hi = x[32 * s];
      for (size_t i = 0; i < 32; ++i) { lo = std::min(lo, x[32 * s + i]); hi = std::max(hi, x[32 * s + i]); }
      lo = std::min(lo, 0.0f);
      const float step = (hi - lo) / 15.0f;
      for (size_t i = 0; i < 32; ++i) {
        const float e = y[32 * s + i] - x[32 * s + i];
        err += static_cast<double>(e) * e;
        // the plain min/max grid's expected squared error, step^2 / 12 per value
        minmax_err += static_cast<double>(step) * step / 12.0;
        // never worse than a step plus the 8-bit scale rounding of the block's range
        EXPECT_LE(std::fabs(e), step + (hi - lo) * 0.02f) << "shift " << shift << " sub-block " << s;
      }
    }
    EXPECT_LT(err, 1.1 * minmax_err) << "shift " << shift;
  }
}

TEST(QuantFormats, ValuesOnTheGridAreExact) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 16 - 8) * 0.25f;
  x[0] = -2.0f;  // the extreme, -8 * 0.25
  const std::vector<float> y = RoundTrip(DType::kQ4_0, x);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(y[i], x[i]);
  std::vector<float> z(32, 0.0f);
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    const std::vector<float> r = RoundTrip(t, z);
    for (float v : r) EXPECT_EQ(v, 0.0f) << DTypeName(t);
  }
  std::vector<float> z256(256, 0.0f);
  for (float v : RoundTrip(DType::kQ4_K, z256)) EXPECT_EQ(v, 0.0f);
}

TEST(QuantFormats, RejectsPartialBlocks) {
  EXPECT_FALSE(QuantizableRowLength(DType::kQ4_K, 896));
  EXPECT_TRUE(QuantizableRowLength(DType::kQ4_0, 896));
  EXPECT_FALSE(QuantizableRowLength(DType::kQ8_0, 4304));
  EXPECT_FALSE(QuantizableRowLength(DType::kBF16, 64));
  std::vector<float> x(40, 1.0f);
  std::vector<uint8_t> q(64);
  try {
    QuantizeRow(DType::kQ8_0, x.data(), 40, q.data());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsvl::quant

namespace dsvl::quant {
namespace {

// Interleaved forms (repacked at load): every row comes back out of its group byte for byte, the
// layout puts row r's 4-byte pieces at 32c + 4r as documented, and whole-row widening (ToF32)
// equals the plain row's.
TEST(QuantFormats, InterleavedGroupsHoldEachRowExactly) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    SCOPED_TRACE(DTypeName(t));
    const int64_t N = 16, K = 512;
    const size_t row_bytes = DTypeBytes(t, K);
    std::vector<uint8_t> plain(row_bytes * N), x8(plain.size());
    for (int64_t n = 0; n < N; ++n) {
      const std::vector<float> row = RandomRow(K, static_cast<uint32_t>(40 + n), 1.0f, n % 3 == 0 ? 0.5f : 0.0f);
      QuantizeRow(t, row.data(), K, plain.data() + n * row_bytes);
    }
    for (int64_t g = 0; g < N / 8; ++g) InterleaveGroup(t, plain.data(), K, g, x8.data());
    EXPECT_EQ(x8.size(), DTypeBytes(InterleavedQuantType(t), N * K));
    const int64_t blocks = K / GetDTypeInfo(t).block_elems;
    std::vector<uint8_t> back(row_bytes);
    for (int64_t n = 0; n < N; ++n) {
      ExtractInterleavedRow(InterleavedQuantType(t), x8.data(), K, n, 0, blocks, back.data());
      ASSERT_EQ(std::memcmp(back.data(), plain.data() + n * row_bytes, row_bytes), 0) << "row " << n;
      // A middle range of blocks alone.
      ExtractInterleavedRow(InterleavedQuantType(t), x8.data(), K, n, 1, 1, back.data());
      ASSERT_EQ(std::memcmp(back.data(), plain.data() + n * row_bytes + row_bytes / blocks, row_bytes / blocks), 0);
    }
    // The documented placement: quant byte 4c + i of row r (first block) at 32c + 4r + i.
    const size_t head = t == DType::kQ4_K ? 16 + 16 + 64 + 64 : 16;  // scales before the quants
    const size_t qoff = t == DType::kQ4_K ? 2 + 2 + 8 + 8 : 2;        // where a plain block's quants start
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 4; ++i)
          ASSERT_EQ(x8[head + 32 * c + 4 * r + i], plain[r * row_bytes + qoff + 4 * c + i]) << "r=" << r << " c=" << c;
    std::vector<float> want(static_cast<size_t>(N * K)), got(want.size());
    for (int64_t n = 0; n < N; ++n) DequantizeRow(t, plain.data() + n * row_bytes, K, want.data() + n * K);
    kernels::ToF32(TensorView(InterleavedQuantType(t), Shape{N, K}, x8.data()), 0, N * K, got.data());
    ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);
  }
}

TEST(QuantFormats, InterleavedTensorsSliceOnlyAtGroupsOf8) {
  std::vector<uint8_t> bytes(DTypeBytes(DType::kQ4_0x8, 16 * 64));
  const TensorView v(DType::kQ4_0x8, Shape{16, 64}, bytes.data());
  EXPECT_EQ(v.Slice0(8, 16).data, bytes.data() + DTypeBytes(DType::kQ4_0, 8 * 64));
  EXPECT_THROW(v.Slice0(4, 16), Error);
  EXPECT_THROW(v.Slice0(0, 12), Error);
  // The row functions take plain types only: an interleaved row is not contiguous.
  std::vector<float> out(64);
  EXPECT_THROW(DequantizeRow(DType::kQ4_0x8, bytes.data(), 64, out.data()), Error);
  EXPECT_FALSE(IsQuantized(DType::kQ4_0x8));
  EXPECT_TRUE(IsInterleavedQuant(DType::kQ4_0x8));
}

}  // namespace
}  // namespace dsvl::quant
