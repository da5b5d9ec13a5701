// The OpenAI reply objects: chat.completion / text_completion, their streamed chunks, usage,
// logprobs, plus dsvl's extras: `boxes` (grounding, pixels of the image, as `dsvl run --json`) and
// `timings`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsvl/dsvl.h"
#include "serve/chat_request.h"

namespace dsvl::serve {

struct ReplyMeta {
  std::string id;      // chatcmpl-... / cmpl-...
  int64_t created = 0;
  std::string model;
  bool chat = true;
};

ReplyMeta NewReplyMeta(const std::string& model, bool chat);

const char* FinishReasonText(FinishReason r);
nlohmann::json UsageJson(const std::vector<GenerateResult>& results);
nlohmann::json BoxesJson(const GenerateResult& result);
nlohmann::json TimingsJson(const std::vector<GenerateResult>& results);
nlohmann::json LogprobsJson(const GenerateResult& result, const ParsedRequest& req, const Model& model);

// The whole non-streamed reply.
nlohmann::json ReplyJson(const ReplyMeta& meta, const ParsedRequest& req, const std::vector<GenerateResult>& results,
                         const Model& model);

// A streamed chunk for choice `index`: text (chat: delta.content; completions: text), and when
// `final` the finish reason, boxes and logprobs of the finished choice.
nlohmann::json ChunkJson(const ReplyMeta& meta, const ParsedRequest& req, int64_t index, const std::string& text,
                         bool first, const GenerateResult* final, const Model& model);
// The last chunk with stream_options.include_usage: no choices, the usage of all.
nlohmann::json UsageChunkJson(const ReplyMeta& meta, const std::vector<GenerateResult>& results);

}  // namespace dsvl::serve
