// Block-quantised tensors in .safetensors files (docs/quantization.md, "Container"): the loader
// accepts Q8_0 / Q4_0 / Q4_K with their logical shape, checks rows of whole blocks, the byte size
// and every block's f16 scales; the streaming writer produces files the loader reads back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "io/safetensors_stream.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

class SafetensorsQuantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("dsvl_stq_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One tensor "w" of `dtype` and `shape` (JSON), data_offsets [0, bytes], then `data`.
  std::string Write(const std::string& name, const std::string& dtype, const std::string& shape, size_t bytes,
                    const std::vector<uint8_t>& data) {
    const std::string header = "{\"__metadata__\": {\"dsvl.quant.version\": \"1\"}, \"w\": {\"dtype\": \"" + dtype +
                               "\", \"shape\": " + shape + ", \"data_offsets\": [0, " + std::to_string(bytes) + "]}}";
    const fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary);
    const uint64_t len = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
    out << header;
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    return p.string();
  }

  fs::path dir_;
};

void ExpectError(const std::string& path, ErrorCode code, const std::vector<std::string>& needles) {
  try {
    WeightStore::Open(path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
  }
}

void PutF16(std::vector<uint8_t>& data, size_t offset, uint16_t h) {
  data[offset] = static_cast<uint8_t>(h & 0xff);
  data[offset + 1] = static_cast<uint8_t>(h >> 8);
}

TEST_F(SafetensorsQuantTest, EachBlockTypeLoadsWithItsLogicalShape) {
  struct Case { const char* dtype; DType type; int64_t cols; size_t bytes; };
  for (const Case& c : {Case{"Q8_0", DType::kQ8_0, 64, 3 * 2 * 34}, Case{"Q4_0", DType::kQ4_0, 64, 3 * 2 * 18},
                        Case{"Q4_K", DType::kQ4_K, 512, 3 * 2 * 148}}) {
    std::vector<uint8_t> data(c.bytes, 0);
    PutF16(data, 0, 0x3c00);  // d = 1.0 in the first block
    const std::string p = Write(std::string(c.dtype) + ".safetensors", c.dtype,
                                "[3, " + std::to_string(c.cols) + "]", c.bytes, data);
    auto store = WeightStore::Open(p);
    const TensorView& w = store->Get("w", Shape{3, c.cols});
    EXPECT_EQ(w.dtype, c.type) << c.dtype;
    EXPECT_EQ(w.nbytes(), c.bytes) << c.dtype;
    EXPECT_EQ(store->total_bytes(), c.bytes);
  }
}

TEST_F(SafetensorsQuantTest, RowsMustBeWholeBlocks) {
  ExpectError(Write("q8_48.safetensors", "Q8_0", "[2, 48]", 0, {}), ErrorCode::kCorruptData,
              {"tensor 'w' shape", "multiple of 32", "[2, 48]"});
  ExpectError(Write("q4k_64.safetensors", "Q4_K", "[2, 64]", 0, {}), ErrorCode::kCorruptData,
              {"multiple of 256", "Q4_K"});
  ExpectError(Write("q8_scalar.safetensors", "Q8_0", "[]", 0, {}), ErrorCode::kCorruptData, {"rank >= 1"});
}

TEST_F(SafetensorsQuantTest, ByteSizeMustMatchTheBlocks) {
  // [2, 64] Q8_0 is 4 blocks = 136 bytes; 128 (as if 2 bytes per value) is refused.
  ExpectError(Write("q8_size.safetensors", "Q8_0", "[2, 64]", 128, std::vector<uint8_t>(128)),
              ErrorCode::kCorruptData, {"byte size", "136", "128"});
}

TEST_F(SafetensorsQuantTest, NonFiniteScaleNamesTensorAndBlock) {
  std::vector<uint8_t> data(4 * 34, 0);
  PutF16(data, 3 * 34, 0x7e00);  // NaN in block 3's d
  ExpectError(Write("q8_nan.safetensors", "Q8_0", "[2, 64]", data.size(), data), ErrorCode::kCorruptData,
              {"tensor 'w' block 3 scale d", "finite", "NaN"});
  std::vector<uint8_t> k(2 * 148, 0);
  PutF16(k, 148 + 2, 0xfc00);  // -inf in block 1's dmin
  ExpectError(Write("q4k_inf.safetensors", "Q4_K", "[1, 512]", k.size(), k), ErrorCode::kCorruptData,
              {"block 1 dmin", "inf"});
  std::vector<uint8_t> q4(2 * 18, 0);
  PutF16(q4, 0, 0x7c00);  // +inf in block 0
  ExpectError(Write("q40_inf.safetensors", "Q4_0", "[1, 64]", q4.size(), q4), ErrorCode::kCorruptData,
              {"block 0 scale d", "inf"});
}

TEST_F(SafetensorsQuantTest, StreamWriterRoundTrips) {
  std::vector<uint8_t> q(2 * 2 * 34);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i % 7);  // scales 0x0100-ish: finite
  std::vector<uint16_t> b(5, 0x3f80);
  const std::vector<PlannedTensor> tensors = {{"a.q", DType::kQ8_0, Shape{2, 64}}, {"b.norm", DType::kBF16, Shape{5}}};
  const std::string path = (dir_ / "stream.safetensors").string();
  {
    SafetensorsStreamWriter w(path, tensors, {{"dsvl.quant.version", "1"}});
    w.Append(q.data(), 100);  // in arbitrary pieces
    w.Append(q.data() + 100, q.size() - 100);
    w.Append(b.data(), 10);
    w.Finish();
  }
  auto store = WeightStore::Open(path);
  const TensorView& a = store->Get("a.q", Shape{2, 64});
  ASSERT_EQ(a.dtype, DType::kQ8_0);
  EXPECT_EQ(std::memcmp(a.data, q.data(), q.size()), 0);
  EXPECT_EQ(store->Get("b.norm").dtype, DType::kBF16);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data) % 8, 0u) << "tensor data 8-byte aligned";

  SafetensorsStreamWriter short_writer((dir_ / "short.safetensors").string(), tensors, {});
  short_writer.Append(q.data(), 10);
  EXPECT_THROW(short_writer.Finish(), Error);
  SafetensorsStreamWriter long_writer((dir_ / "long.safetensors").string(), tensors, {});
  std::vector<uint8_t> too_much(1000);
  EXPECT_THROW(long_writer.Append(too_much.data(), too_much.size()), Error);
}

TEST_F(SafetensorsQuantTest, ShardPlanKeepsOrderAndLimit) {
  const std::vector<PlannedTensor> t = {{"a", DType::kQ8_0, Shape{1, 64}},    // 68 bytes
                                        {"b", DType::kQ8_0, Shape{1, 64}},    // 68
                                        {"c", DType::kQ8_0, Shape{10, 64}},   // 680: alone
                                        {"d", DType::kBF16, Shape{4}}};       // 8
  const auto shards = PlanShards(t, 150);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0], (std::vector<size_t>{0, 1}));
  EXPECT_EQ(shards[1], (std::vector<size_t>{2}));
  EXPECT_EQ(shards[2], (std::vector<size_t>{3}));
  EXPECT_EQ(ShardFileName(0, 1), "model.safetensors");
  EXPECT_EQ(ShardFileName(1, 3), "model-00002-of-00003.safetensors");
}

}  // namespace
}  // namespace dsvl
