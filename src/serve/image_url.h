// An OpenAI image_url turned into an ImageInput: data: URIs (base64) always; file:// only under the
// --allow-local-files directory after resolving links and "..". Remote URLs are not fetched.
#pragma once

#include <string>

#include "dsvl/dsvl.h"
#include "serve/request_context.h"

namespace dsvl::serve {

// Throws ApiError (400) naming `param` for anything unusable.
ImageInput ImageFromUrl(const std::string& url, const RequestContext& ctx, const std::string& param);

}  // namespace dsvl::serve
