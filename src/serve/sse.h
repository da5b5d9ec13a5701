// Server-sent events as the OpenAI streaming API writes them: one "data: <json>" event per chunk,
// and "data: [DONE]" at the end.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dsvl::serve {

// JSON text of a reply; invalid UTF-8 (a token that splits a character) becomes U+FFFD, never a throw.
std::string DumpJson(const nlohmann::json& j);

std::string SseEvent(const nlohmann::json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

}  // namespace dsvl::serve
