// What request parsing needs to know about the server and the model (no engine internals).
#pragma once

#include <cstdint>
#include <string>

#include "dsvl/dsvl.h"

namespace dsvl::serve {

struct RequestContext {
  ModelFamilyId family = ModelFamilyId::kDeepSeekVL2;
  int64_t context = 4096;          // tokens per sequence (ModelInfo::max_context)
  int64_t vocab_size = 0;
  int64_t max_images = 16;         // per request (InputLimits::max_images)
  int64_t max_image_bytes = 0;     // encoded bytes of one image (InputLimits::max_image_file_bytes)
  int64_t max_n = 8;               // choices per request
  std::string local_files_root;    // real path of --allow-local-files ("" = file:// refused)
};

}  // namespace dsvl::serve
