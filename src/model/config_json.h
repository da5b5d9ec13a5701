// Typed reads from a parsed config file with the official code's default semantics: a key that is
// absent takes the Python class's default, a key that is null means None. Every error names the
// file and the key path ("config.json: language_config.hidden_size: expected a positive integer").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config_limits.h"

namespace dsvl {

class ConfigReader {
 public:
  // `file` names the file in messages; `path` is the key path of `obj` inside it ("" for the root).
  ConfigReader(std::string file, const nlohmann::json& obj, std::string path = "");

  bool Has(const char* key) const;     // present (possibly null)
  bool IsNull(const char* key) const;  // present and null
  // Nested object; throws kCorruptData when absent or not an object.
  ConfigReader Object(const char* key) const;
  // Nested object or nullopt when absent or null.
  std::optional<ConfigReader> OptionalObject(const char* key) const;

  // Absent -> fallback; null -> nullopt (Python None); wrong type -> kCorruptData.
  std::optional<int64_t> Int(const char* key, std::optional<int64_t> fallback) const;
  std::optional<double> Number(const char* key, std::optional<double> fallback) const;
  std::optional<std::string> String(const char* key, std::optional<std::string> fallback) const;
  bool Bool(const char* key, bool fallback) const;  // null -> fallback

  // An integer checked against its sane range (model/config_limits.h): absent -> fallback; null or
  // below range.min -> kCorruptData; above range.max -> kLimitExceeded naming the limit.
  int64_t BoundedInt(const char* key, std::optional<int64_t> fallback, IntRange range) const;
  // The same check for a value already read or derived (from tiny_arch.json, the weights ...).
  void CheckRange(const char* key, int64_t value, IntRange range) const;
  // A finite number in (0, max]: absent -> fallback; null -> fallback.
  double PositiveNumber(const char* key, double fallback, double max) const;

  // Required values: absent or null -> kCorruptData naming the key.
  int64_t RequireInt(const char* key) const;
  std::string RequireString(const char* key) const;

  std::array<float, 3> Triple(const char* key, const std::array<float, 3>& fallback) const;
  std::vector<int64_t> IntList(const char* key, const std::vector<int64_t>& fallback) const;
  // [[w, h], ...]
  std::vector<std::pair<int64_t, int64_t>> PairList(const char* key) const;

  // Throws kCorruptData "<file>: <path.key>: expected <expected>, got <actual>".
  [[noreturn]] void Fail(const char* key, const std::string& expected, const std::string& actual) const;
  // Throws kUnsupported for a well-formed value dsvl does not implement.
  [[noreturn]] void Unsupported(const char* key, const std::string& supported, const std::string& actual) const;

  std::string Path(const char* key) const;
  const std::string& file() const { return file_; }
  const nlohmann::json& value() const { return obj_; }

 private:
  const nlohmann::json* Find(const char* key) const;

  std::string file_;
  const nlohmann::json& obj_;
  std::string path_;
};

// Short rendering of a JSON value for messages (long values are cut).
std::string JsonForMessage(const nlohmann::json& v);

}  // namespace dsvl
