// PNG writer for RGB images (debug dumps, tests, CLI output).
#pragma once

#include <string>

#include "io/image.h"

namespace dsvl {

// Writes an 8-bit RGB PNG; throws dsvl::Error (kIo) if the file cannot be written.
void WritePng(const std::string& path, const RgbImage& img);

}  // namespace dsvl
