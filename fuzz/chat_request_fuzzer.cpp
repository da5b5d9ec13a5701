// The server's request parsing (src/serve: json_fields, chat_request, image_url, base64): a request
// body straight from an HTTP client. Refusals are ApiError (a 4xx for the client); anything else
// escaping — another exception, a crash, a hang — is a finding.
// Input: the body, parsed both as a chat and as a text completion request.
#include <cstdlib>

#include "fuzz_util.h"
#include "serve/api_error.h"
#include "serve/chat_request.h"
#include "serve/json_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsvl::serve;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  RequestContext ctx;
  ctx.vocab_size = 1000;
  ctx.max_images = 4;
  ctx.max_image_bytes = 1 << 16;
  ctx.context = 4096;
  for (int chat = 0; chat < 2; ++chat) {
    try {
      const json j = ParseBody(body);
      std::string prompt;
      const ParsedRequest p = chat ? ParseChatRequest(j, ctx) : ParseCompletionRequest(j, ctx, &prompt);
      if (p.n < 1 || p.n > ctx.max_n || p.request.max_new_tokens < 1 || p.request.max_new_tokens > ctx.context) {
        std::abort();
      }
      size_t images = 0;
      for (const dsvl::Message& m : p.request.messages) images += m.images.size();
      if (static_cast<int64_t>(images) > ctx.max_images) std::abort();
    } catch (const ApiError& e) {
      if (e.status < 400 || e.status >= 500) std::abort();
      dsvl::fuzz::NoteRejection(e);
    }
  }
  return 0;
}
