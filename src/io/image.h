// 8-bit RGB image in memory: what PIL's Image.convert('RGB') holds. All preprocessing starts here.
#pragma once

#include <cstdint>
#include <vector>

namespace dsvl {

struct RgbImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3, row-major, RGB interleaved

  uint8_t* row(int64_t y) { return pixels.data() + y * width * 3; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * 3; }
};

}  // namespace dsvl
