// Grounded answers: `<|ref|>label<|/ref|><|det|>[[x1, y1, x2, y2], ...]<|/det|>` with coordinates
// normalised to 0..999 of the original image (DeepSeek-VL2 serve/app_modules/utils.py parse_ref_bbox).
// Models emit malformed boxes now and then (odd counts, 9999...), so parsing never fails: bad parts
// are skipped and described in `warnings`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsvl {

struct GroundingBox {
  std::string label;   // text between <|ref|> and <|/ref|>; empty for a <|det|> without a ref
  int64_t box[4] = {0, 0, 0, 0};   // x1, y1, x2, y2 in pixels: int(v / 999 * W or H)
  int64_t norm[4] = {0, 0, 0, 0};  // the 0..999 values as written
};

struct GroundingResult {
  std::vector<GroundingBox> boxes;
  std::vector<std::string> warnings;
};

// width/height: the original image's size (the image boxes refer to).
GroundingResult ParseGrounding(std::string_view text, int64_t width, int64_t height);

}  // namespace dsvl
