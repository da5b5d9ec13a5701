// Typed access to request JSON with OpenAI-style 400s naming the field: a wrong type is an error,
// never a silent conversion; null counts as absent. ParseBody bounds nesting before parsing, so a
// body of a million '[' cannot exhaust the stack anywhere later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dsvl::serve {

using json = nlohmann::json;

json ParseBody(std::string_view body);  // throws ApiError (400) unless a JSON object

std::optional<bool> OptBool(const json& obj, const char* key);
std::optional<int64_t> OptInt(const json& obj, const char* key, int64_t min, int64_t max);
std::optional<double> OptNumber(const json& obj, const char* key, double min, double max);
std::optional<std::string> OptString(const json& obj, const char* key);

}  // namespace dsvl::serve
