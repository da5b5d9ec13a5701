// Draws grounding boxes with their labels onto an image (what the DeepSeek-VL2 demo shows): a
// 3-pixel outline per box in a colour that cycles per box, the label above the box's top-left corner
// in the built-in bitmap font on a filled strip of the same colour.
#pragma once

#include <vector>

#include "io/image.h"
#include "model/grounding.h"

namespace dsvl {

// Modifies `image` in place. Boxes are clipped to the image; empty/degenerate ones are drawn as lines.
void DrawBoxes(RgbImage& image, const std::vector<GroundingBox>& boxes);

}  // namespace dsvl
