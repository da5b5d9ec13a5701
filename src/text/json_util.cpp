#include "text/json_util.h"

#include "dsvl/error.h"

namespace dsvl::text {
namespace {

[[noreturn]] void TypeError(const nlohmann::json& v, const char* expected, const std::string& where,
                            const std::string& field) {
  Throw(ErrorCode::kCorruptData, ErrorContext{where, field, expected, v.type_name(), ""});
}

}  // namespace

std::string FieldPath(const std::string& parent, const char* key) {
  return parent.empty() ? std::string(key) : parent + "." + key;
}

const nlohmann::json& GetMember(const nlohmann::json& obj, const char* key, const std::string& where,
                                const std::string& parent) {
  if (!obj.is_object()) TypeError(obj, "object", where, parent.empty() ? "(root)" : parent);
  auto it = obj.find(key);
  if (it == obj.end()) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, FieldPath(parent, key), "", "", "missing field"});
  }
  return *it;
}

std::string GetString(const nlohmann::json& obj, const char* key, const std::string& where,
                      const std::string& parent) {
  const auto& v = GetMember(obj, key, where, parent);
  if (!v.is_string()) TypeError(v, "string", where, FieldPath(parent, key));
  return v.get<std::string>();
}

const nlohmann::json& GetArray(const nlohmann::json& obj, const char* key, const std::string& where,
                               const std::string& parent) {
  const auto& v = GetMember(obj, key, where, parent);
  if (!v.is_array()) TypeError(v, "array", where, FieldPath(parent, key));
  return v;
}

const nlohmann::json& GetObject(const nlohmann::json& obj, const char* key, const std::string& where,
                                const std::string& parent) {
  const auto& v = GetMember(obj, key, where, parent);
  if (!v.is_object()) TypeError(v, "object", where, FieldPath(parent, key));
  return v;
}

bool GetBool(const nlohmann::json& obj, const char* key, const std::string& where, const std::string& parent,
             bool fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) TypeError(*it, "boolean", where, FieldPath(parent, key));
  return it->get<bool>();
}

int64_t GetInt(const nlohmann::json& obj, const char* key, const std::string& where, const std::string& parent) {
  const auto& v = GetMember(obj, key, where, parent);
  if (!v.is_number_integer()) TypeError(v, "integer", where, FieldPath(parent, key));
  return v.get<int64_t>();
}

}  // namespace dsvl::text
