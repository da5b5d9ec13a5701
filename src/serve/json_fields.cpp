#include "serve/json_fields.h"

#include "serve/api_error.h"

namespace dsvl::serve {
namespace {

constexpr int kMaxDepth = 64;

// Nesting depth outside strings; enough to refuse pathological input before the parser sees it.
bool WithinDepth(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

const json* Field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string Range(double min, double max) {
  return "between " + json(min).dump() + " and " + json(max).dump();
}

}  // namespace

json ParseBody(std::string_view body) {
  if (!WithinDepth(body)) {
    throw ApiError(400, "JSON body nested deeper than " + std::to_string(kMaxDepth) + " levels", "", "invalid_json");
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON", "", "invalid_json");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");
  return j;
}

std::optional<bool> OptBool(const json& obj, const char* key) {
  const json* v = Field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) BadRequest(key, std::string("'") + key + "' must be a boolean", "invalid_type");
  return v->get<bool>();
}

std::optional<int64_t> OptInt(const json& obj, const char* key, int64_t min, int64_t max) {
  const json* v = Field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) BadRequest(key, std::string("'") + key + "' must be an integer", "invalid_type");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    BadRequest(key, std::string("'") + key + "' must be " + Range(min, max));
  }
  const int64_t x = v->get<int64_t>();
  if (x < min || x > max) {
    BadRequest(key, std::string("'") + key + "' must be between " + std::to_string(min) + " and " +
                        std::to_string(max) + ", got " + std::to_string(x));
  }
  return x;
}

std::optional<double> OptNumber(const json& obj, const char* key, double min, double max) {
  const json* v = Field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) BadRequest(key, std::string("'") + key + "' must be a number", "invalid_type");
  const double x = v->get<double>();
  if (!(x >= min && x <= max)) BadRequest(key, std::string("'") + key + "' must be " + Range(min, max));
  return x;
}

std::optional<std::string> OptString(const json& obj, const char* key) {
  const json* v = Field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) BadRequest(key, std::string("'") + key + "' must be a string", "invalid_type");
  return v->get<std::string>();
}

}  // namespace dsvl::serve
