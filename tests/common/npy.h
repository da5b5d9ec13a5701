// Minimal .npy reader for the golden fixtures (little-endian, C order; f4, i8, b1, u1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsvl::test {

struct NpyArray {
  std::string descr;            // "<f4", "<i8", "|b1", "|u1"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  int64_t numel() const;
  std::vector<float> f32() const;      // converts f4 (and bool/ints) to float
  std::vector<int64_t> i64() const;    // converts i8/b1/u1/i4 to int64
};

NpyArray LoadNpy(const std::string& path);

// Root of the copied fixtures: tests/data (set by CMake).
std::string DataDir();
std::string FixtureDir();  // tests/data/fixtures

}  // namespace dsvl::test
