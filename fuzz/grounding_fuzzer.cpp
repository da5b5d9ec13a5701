// The grounding parser (src/model/grounding.*): <|ref|>label<|/ref|><|det|>[[x1, y1, x2, y2]]<|/det|>
// in model output, which the model may garble arbitrarily. It never throws by contract, so any
// exception (dsvl::Error included) surfaces as a finding here.
// Input: 2 bytes width, 2 bytes height (each + 1: a decoded image is at least 1x1 and at most
// 65536 wide under the default pixel limit's aspect), then the text.
#include "fuzz_util.h"
#include "model/grounding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const int64_t width = 1 + (data[0] | (data[1] << 8));
  const int64_t height = 1 + (data[2] | (data[3] << 8));
  const std::string_view text(reinterpret_cast<const char*>(data + 4), size - 4);
  const dsvl::GroundingResult r = dsvl::ParseGrounding(text, width, height);
  for (const dsvl::GroundingBox& b : r.boxes) {
    for (int i = 0; i < 4; ++i)
      if (b.box[i] < 0 || b.box[i] > (i % 2 == 0 ? width : height)) __builtin_trap();
  }
  return 0;
}
