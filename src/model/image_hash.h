// A content hash of decoded pixels: the key under which a session caches an image's embedding and
// its KV-cache positions, so equal pixels sent again (in any file format) are recognised.
#pragma once

#include <cstdint>

#include "io/image.h"

namespace dsvl {

// 61-bit non-negative hash of width, height and pixels (leaves room for the key arithmetic in
// SessionImpl: -1 - (hash * 2 + tiled) stays a negative int64). Not cryptographic: a collision
// would reuse another image's cached rows, which needs pixels crafted against a known image.
int64_t ImageContentHash(const RgbImage& image);

}  // namespace dsvl
