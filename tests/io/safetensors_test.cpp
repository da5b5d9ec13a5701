// The safetensors loader against malformed files: every defect gives a dsvl::Error (never a crash
// or a view past the map) whose message names the file and the offending field.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dsvl/error.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("dsvl_safetensors_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes raw bytes: 8-byte little-endian length `declared_len` (defaults to the header's size),
  // the header text, then `data_bytes` bytes of data.
  std::string WriteRaw(const std::string& name, const std::string& header, size_t data_bytes,
                       int64_t declared_len = -1) {
    const fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary);
    const uint64_t len = declared_len < 0 ? header.size() : static_cast<uint64_t>(declared_len);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
    out << header;
    out << std::string(data_bytes, '\0');
    return p.string();
  }
  std::string WriteBytes(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary);
    out << bytes;
    return p.string();
  }

  fs::path dir_;
};

// Opens `path` expecting an Error with `code` whose message names the file and contains each of
// `needles` (the field and, where useful, the values).
void ExpectError(const std::string& path, ErrorCode code, const std::vector<std::string>& needles,
                 const std::string& file_in_message = "") {
  try {
    WeightStore::Open(path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << msg;
    const std::string file = file_in_message.empty() ? path : file_in_message;
    EXPECT_NE(msg.find(file), std::string::npos) << "message does not name " << file << ": " << msg;
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
  }
}

// A valid 2x2 F32 tensor "w" (16 bytes) with the given JSON fragments substituted.
std::string Header(const std::string& dtype = "\"F32\"", const std::string& shape = "[2, 2]",
                   const std::string& offsets = "[0, 16]") {
  return "{\"w\": {\"dtype\": " + dtype + ", \"shape\": " + shape +
         ", \"data_offsets\": " + offsets + "}}";
}

TEST_F(SafetensorsTest, ValidFileLoads) {
  const std::string p = WriteRaw("ok.safetensors", Header(), 16);
  auto store = WeightStore::Open(p);
  ASSERT_TRUE(store->Has("w"));
  EXPECT_EQ(store->Get("w").shape, (Shape{2, 2}));
  EXPECT_EQ(store->total_bytes(), 16u);
}

TEST_F(SafetensorsTest, ShorterThanEightBytes) {
  ExpectError(WriteBytes("short.safetensors", "abc"), ErrorCode::kCorruptData,
              {"header length", "3 bytes"});
  ExpectError(WriteBytes("empty.safetensors", ""), ErrorCode::kCorruptData,
              {"header length", "0 bytes"});
}

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFile) {
  const std::string h = Header();
  ExpectError(WriteRaw("past.safetensors", h, 0, static_cast<int64_t>(h.size()) + 100),
              ErrorCode::kCorruptData, {"header length", "truncated"});
}

TEST_F(SafetensorsTest, HeaderLengthHuge) {
  ExpectError(WriteRaw("huge.safetensors", Header(), 16, int64_t{1} << 40), ErrorCode::kCorruptData,
              {"header length", std::to_string(int64_t{1} << 40)});
  // The top bit set must not wrap around into a small length.
  ExpectError(WriteRaw("top.safetensors", Header(), 16, INT64_MAX), ErrorCode::kCorruptData,
              {"header length"});
}

TEST_F(SafetensorsTest, InvalidJson) {
  ExpectError(WriteRaw("bad.safetensors", "{\"w\": {\"dtype\": ", 16), ErrorCode::kCorruptData,
              {"header", "invalid JSON"});
}

TEST_F(SafetensorsTest, HeaderNotAnObject) {
  ExpectError(WriteRaw("array.safetensors", "[1, 2, 3]", 0), ErrorCode::kCorruptData,
              {"header", "array"});
  ExpectError(WriteRaw("string.safetensors", "\"w\"", 0), ErrorCode::kCorruptData,
              {"header", "string"});
  ExpectError(WriteRaw("entry.safetensors", "{\"w\": 5}", 0), ErrorCode::kCorruptData,
              {"tensor 'w' entry"});
}

TEST_F(SafetensorsTest, MissingOrInvalidDtype) {
  ExpectError(
      WriteRaw("nodtype.safetensors", "{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8),
      ErrorCode::kCorruptData, {"tensor 'w' dtype", "missing"});
  ExpectError(WriteRaw("numdtype.safetensors", Header("7"), 16), ErrorCode::kCorruptData,
              {"tensor 'w' dtype", "7"});
}

TEST_F(SafetensorsTest, UnsupportedDtypeNamesTensorAndDtype) {
  ExpectError(WriteRaw("i8.safetensors", Header("\"I8\"", "[4]", "[0, 4]"), 4),
              ErrorCode::kUnsupported, {"tensor 'w' dtype", "I8", "F32, BF16 or F16"});
  ExpectError(WriteRaw("f8.safetensors", Header("\"F8_E4M3\"", "[4]", "[0, 4]"), 4),
              ErrorCode::kUnsupported, {"tensor 'w' dtype", "F8_E4M3"});
}

TEST_F(SafetensorsTest, MissingOrInvalidShape) {
  ExpectError(WriteRaw("noshape.safetensors",
                       "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 16]}}", 16),
              ErrorCode::kCorruptData, {"tensor 'w' shape", "missing"});
  ExpectError(WriteRaw("objshape.safetensors", Header("\"F32\"", "{\"a\": 1}"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' shape", "array"});
  ExpectError(WriteRaw("fshape.safetensors", Header("\"F32\"", "[2.5, 2]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' shape", "non-negative integers", "2.5"});
  ExpectError(WriteRaw("rank.safetensors", Header("\"F32\"", "[1, 1, 1, 1, 4]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' shape", "rank"});
}

TEST_F(SafetensorsTest, NegativeShape) {
  ExpectError(WriteRaw("neg.safetensors", Header("\"F32\"", "[-2, -2]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' shape", "non-negative", "-2"});
}

TEST_F(SafetensorsTest, OverflowingShape) {
  // 2^32 x 2^32 elements x 4 bytes wraps uint64 to 0: must not be accepted over an empty range.
  ExpectError(
      WriteRaw("overflow.safetensors", Header("\"F32\"", "[4294967296, 4294967296]", "[0, 0]"), 0),
      ErrorCode::kCorruptData, {"tensor 'w' shape", "element count"});
  // 2^62 elements x 4 bytes = 2^64 also wraps to 0 (accepted by a bound of 2^62 elements).
  ExpectError(WriteRaw("overflow62.safetensors",
                       Header("\"F32\"", "[2147483648, 2147483648]", "[0, 0]"), 0),
              ErrorCode::kCorruptData, {"tensor 'w' shape", "element count"});
  ExpectError(
      WriteRaw("overflow2.safetensors", Header("\"BF16\"", "[18446744073709551615]", "[0, 0]"), 0),
      ErrorCode::kCorruptData, {"tensor 'w' shape", "element count"});
}

TEST_F(SafetensorsTest, MissingOrInvalidDataOffsets) {
  ExpectError(WriteRaw("nooff.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4]}}", 16),
              ErrorCode::kCorruptData, {"tensor 'w' data_offsets"});
  ExpectError(WriteRaw("off3.safetensors", Header("\"F32\"", "[2, 2]", "[0, 8, 16]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' data_offsets", "[0,8,16]"});
  ExpectError(WriteRaw("offneg.safetensors", Header("\"F32\"", "[2, 2]", "[-16, 0]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' data_offsets"});
  ExpectError(WriteRaw("offstr.safetensors", Header("\"F32\"", "[2, 2]", "[\"0\", \"16\"]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' data_offsets"});
  ExpectError(WriteRaw("offrev.safetensors", Header("\"F32\"", "[0]", "[16, 0]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' data_offsets", "[16, 0]"});
}

TEST_F(SafetensorsTest, OffsetsOutOfBounds) {
  ExpectError(WriteRaw("oob.safetensors", Header("\"F32\"", "[2, 2]", "[8, 24]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' data_offsets", "<= 16", "[8, 24]"});
}

TEST_F(SafetensorsTest, OverlappingOffsets) {
  const std::string h =
      "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
      " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}";
  ExpectError(WriteRaw("overlap.safetensors", h, 16), ErrorCode::kCorruptData,
              {"data_offsets", "'a' overlaps 'b'"});
  // An empty tensor in between must not hide the overlap of its neighbours.
  const std::string h2 =
      "{\"a\": {\"dtype\": \"F32\", \"shape\": [8], \"data_offsets\": [0, 32]},"
      " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]},"
      " \"c\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]}}";
  ExpectError(WriteRaw("overlap2.safetensors", h2, 32), ErrorCode::kCorruptData,
              {"data_offsets", "'a' overlaps 'c'"});
}

TEST_F(SafetensorsTest, ByteSizeDisagreesWithDtypeAndShape) {
  ExpectError(WriteRaw("size.safetensors", Header("\"BF16\"", "[2, 2]", "[0, 16]"), 16),
              ErrorCode::kCorruptData, {"tensor 'w' byte size", "8 (BF16 x [2, 2])", "16"});
}

TEST_F(SafetensorsTest, ShardedIndexPointsAtMissingShard) {
  WriteRaw("model-00001-of-00002.safetensors", Header(), 16);
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"w": "model-00001-of-00002.safetensors",
             "v": "model-00002-of-00002.safetensors"}})";
  ExpectError(dir_.string(), ErrorCode::kNotFound,
              {"weight_map.v", "model-00002-of-00002.safetensors"},
              (dir_ / "model.safetensors.index.json").string());
}

TEST_F(SafetensorsTest, ShardedIndexNamesTensorAbsentFromItsShard) {
  WriteRaw("model-00001-of-00002.safetensors", Header(), 16);
  WriteRaw("model-00002-of-00002.safetensors",
           "{\"v\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4);
  // "x" is in no shard at all.
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"w": "model-00001-of-00002.safetensors", "x": "model-00002-of-00002.safetensors"}})";
  ExpectError(dir_.string(), ErrorCode::kCorruptData, {"weight_map.x", "absent"},
              (dir_ / "model.safetensors.index.json").string());
  // "v" exists, but in the other shard than the index says.
  WriteRaw("model-00002-of-00002.safetensors",
           "{\"u\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
           " \"v\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
           8);
  std::ofstream(dir_ / "model.safetensors.index.json", std::ios::trunc)
      << R"({"weight_map": {"w": "model-00001-of-00002.safetensors", "u": "model-00002-of-00002.safetensors",
             "v": "model-00001-of-00002.safetensors"}})";
  ExpectError(dir_.string(), ErrorCode::kCorruptData,
              {"weight_map.v", "found in model-00002-of-00002.safetensors"},
              (dir_ / "model.safetensors.index.json").string());
}

TEST_F(SafetensorsTest, ShardedIndexInvalid) {
  WriteRaw("a.safetensors", Header(), 16);
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"w": "../a.safetensors"}})";
  ExpectError(dir_.string(), ErrorCode::kCorruptData, {"weight_map.w", "../a.safetensors"},
              (dir_ / "model.safetensors.index.json").string());
  std::ofstream(dir_ / "model.safetensors.index.json", std::ios::trunc) << R"({"weights": {}})";
  ExpectError(dir_.string(), ErrorCode::kCorruptData, {"weight_map"},
              (dir_ / "model.safetensors.index.json").string());
}

TEST_F(SafetensorsTest, ShardedRoundTrip) {
  std::vector<float> a{1, 2, 3, 4}, b{5, 6};
  WriteSafetensors((dir_ / "model-00001-of-00002.safetensors").string(),
                   {{"a", TensorView(DType::kF32, {2, 2}, a.data())}});
  WriteSafetensors((dir_ / "model-00002-of-00002.safetensors").string(),
                   {{"b", TensorView(DType::kF32, {2}, b.data())}});
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})";
  auto store = WeightStore::Open(dir_.string());
  EXPECT_EQ(store->tensors().size(), 2u);
  EXPECT_FLOAT_EQ(store->Get("a", {2, 2}).f32()[3], 4.0f);
  EXPECT_FLOAT_EQ(store->Get("b").f32()[1], 6.0f);
  EXPECT_THROW(store->Get("b", {3}), Error);
}

TEST_F(SafetensorsTest, DuplicateTensorAcrossFiles) {
  std::vector<float> a{1, 2};
  WriteSafetensors((dir_ / "x.safetensors").string(),
                   {{"a", TensorView(DType::kF32, {2}, a.data())}});
  WriteSafetensors((dir_ / "y.safetensors").string(),
                   {{"a", TensorView(DType::kF32, {2}, a.data())}});
  ExpectError(dir_.string(), ErrorCode::kCorruptData, {"tensor 'a' name", "duplicate"},
              (dir_ / "y.safetensors").string());
}

}  // namespace
}  // namespace dsvl
