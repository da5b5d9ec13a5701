// Request JSON -> GenerateRequest: /v1/chat/completions (messages through the chat template, with
// images) and /v1/completions (a raw prompt, no template). Throws ApiError (4xx) on anything the
// engine should not see.
#pragma once

#include <cstdint>
#include <vector>

#include "dsvl/dsvl.h"
#include "serve/json_fields.h"
#include "serve/request_context.h"

namespace dsvl::serve {

struct ParsedRequest {
  GenerateRequest request;  // the first choice's; choice i samples with seed + i
  bool chat = true;
  int64_t n = 1;
  bool stream = false;
  bool include_usage = false;       // stream_options.include_usage
  bool logprobs = false;            // report the chosen tokens' log-probabilities
  int64_t top_logprobs = 0;         // and this many alternatives per step
  // One hash per message (role, text, image bytes): the server sends the request to the idle slot
  // whose last conversation shares the longest prefix of these (its KV cache then matches best).
  std::vector<uint64_t> signature;
};

ParsedRequest ParseChatRequest(const json& body, const RequestContext& ctx);
// The prompt is tokenized by the caller (it needs the model): `prompt_ids` set when the prompt was
// given as token ids, else `prompt_text`.
ParsedRequest ParseCompletionRequest(const json& body, const RequestContext& ctx, std::string* prompt_text);

// FNV-1a, for signatures.
uint64_t HashBytes(const void* data, size_t n, uint64_t seed = 0xcbf29ce484222325ULL);

}  // namespace dsvl::serve
