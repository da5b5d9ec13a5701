#include "model/config_json.h"

#include <cmath>

#include "dsvl/error.h"

namespace dsvl {

using json = nlohmann::json;

std::string JsonForMessage(const json& v) {
  std::string s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

ConfigReader::ConfigReader(std::string file, const json& obj, std::string path)
    : file_(std::move(file)), obj_(obj), path_(std::move(path)) {
  if (!obj_.is_object()) {
    Throw(ErrorCode::kCorruptData,
          ErrorContext{file_, path_.empty() ? "(root)" : path_, "an object", JsonForMessage(obj_), ""});
  }
}

std::string ConfigReader::Path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

void ConfigReader::Fail(const char* key, const std::string& expected, const std::string& actual) const {
  Throw(ErrorCode::kCorruptData, ErrorContext{file_, Path(key), expected, actual, ""});
}

void ConfigReader::Unsupported(const char* key, const std::string& supported, const std::string& actual) const {
  Throw(ErrorCode::kUnsupported, ErrorContext{file_, Path(key), supported, actual, "not supported by dsvl"});
}

const json* ConfigReader::Find(const char* key) const {
  auto it = obj_.find(key);
  return it == obj_.end() ? nullptr : &*it;
}

bool ConfigReader::Has(const char* key) const { return Find(key) != nullptr; }
bool ConfigReader::IsNull(const char* key) const {
  const json* v = Find(key);
  return v && v->is_null();
}

ConfigReader ConfigReader::Object(const char* key) const {
  const json* v = Find(key);
  if (!v) Fail(key, "an object", "absent");
  if (!v->is_object()) Fail(key, "an object", JsonForMessage(*v));
  return ConfigReader(file_, *v, Path(key));
}

std::optional<ConfigReader> ConfigReader::OptionalObject(const char* key) const {
  const json* v = Find(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_object()) Fail(key, "an object", JsonForMessage(*v));
  return ConfigReader(file_, *v, Path(key));
}

std::optional<int64_t> ConfigReader::Int(const char* key, std::optional<int64_t> fallback) const {
  const json* v = Find(key);
  if (!v) return fallback;
  if (v->is_null()) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  // Python configs sometimes hold integral floats (e.g. 4096.0).
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
  }
  Fail(key, "an integer", JsonForMessage(*v));
}

std::optional<double> ConfigReader::Number(const char* key, std::optional<double> fallback) const {
  const json* v = Find(key);
  if (!v) return fallback;
  if (v->is_null()) return std::nullopt;
  if (!v->is_number()) Fail(key, "a number", JsonForMessage(*v));
  const double d = v->get<double>();
  if (!std::isfinite(d)) Fail(key, "a finite number", JsonForMessage(*v));
  return d;
}

std::optional<std::string> ConfigReader::String(const char* key, std::optional<std::string> fallback) const {
  const json* v = Find(key);
  if (!v) return fallback;
  if (v->is_null()) return std::nullopt;
  if (!v->is_string()) Fail(key, "a string", JsonForMessage(*v));
  return v->get<std::string>();
}

bool ConfigReader::Bool(const char* key, bool fallback) const {
  const json* v = Find(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_boolean()) Fail(key, "true or false", JsonForMessage(*v));
  return v->get<bool>();
}

int64_t ConfigReader::BoundedInt(const char* key, std::optional<int64_t> fallback, IntRange range) const {
  const auto v = Int(key, fallback);
  if (!v) {
    Fail(key, "an integer in [" + std::to_string(range.min) + ", " + std::to_string(range.max) + "]", "null");
  }
  CheckRange(key, *v, range);
  return *v;
}

void ConfigReader::CheckRange(const char* key, int64_t value, IntRange range) const {
  if (value < range.min) {
    Fail(key, "an integer in [" + std::to_string(range.min) + ", " + std::to_string(range.max) + "]",
         std::to_string(value));
  }
  if (value > range.max) {
    Throw(ErrorCode::kLimitExceeded, ErrorContext{file_, Path(key), "at most " + std::to_string(range.max),
                                                  std::to_string(value), "(dsvl limit, see docs/limits.md)"});
  }
}

double ConfigReader::PositiveNumber(const char* key, double fallback, double max) const {
  const double v = Number(key, fallback).value_or(fallback);
  if (!(v > 0.0)) Fail(key, "a positive number", JsonForMessage(v));
  if (v > max) {
    Throw(ErrorCode::kLimitExceeded, ErrorContext{file_, Path(key), "at most " + JsonForMessage(max),
                                                  JsonForMessage(v), "(dsvl limit, see docs/limits.md)"});
  }
  return v;
}

int64_t ConfigReader::RequireInt(const char* key) const {
  if (!Has(key)) Fail(key, "an integer", "absent");
  auto v = Int(key, std::nullopt);
  if (!v) Fail(key, "an integer", "null");
  return *v;
}

std::string ConfigReader::RequireString(const char* key) const {
  if (!Has(key)) Fail(key, "a string", "absent");
  auto v = String(key, std::nullopt);
  if (!v) Fail(key, "a string", "null");
  return *v;
}

std::array<float, 3> ConfigReader::Triple(const char* key, const std::array<float, 3>& fallback) const {
  const json* v = Find(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_array() || v->size() != 3) Fail(key, "a list of 3 numbers", JsonForMessage(*v));
  std::array<float, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!(*v)[i].is_number()) Fail(key, "a list of 3 numbers", JsonForMessage(*v));
    out[i] = static_cast<float>((*v)[i].get<double>());
  }
  return out;
}

std::vector<int64_t> ConfigReader::IntList(const char* key, const std::vector<int64_t>& fallback) const {
  const json* v = Find(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_array()) Fail(key, "a list of integers", JsonForMessage(*v));
  std::vector<int64_t> out;
  for (const auto& e : *v) {
    if (!e.is_number_integer()) Fail(key, "a list of integers", JsonForMessage(*v));
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> ConfigReader::PairList(const char* key) const {
  const json* v = Find(key);
  if (!v || v->is_null()) return {};
  if (!v->is_array()) Fail(key, "a list of [width, height] pairs", JsonForMessage(*v));
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& e : *v) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_number_integer() ||
        e[0].get<int64_t>() <= 0 || e[1].get<int64_t>() <= 0) {
      Fail(key, "a list of positive [width, height] pairs", JsonForMessage(e));
    }
    out.emplace_back(e[0].get<int64_t>(), e[1].get<int64_t>());
  }
  return out;
}

}  // namespace dsvl
