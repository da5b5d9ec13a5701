// Typed accessors for tokenizer JSON files that throw dsvl::Error naming the file and the field
// path (e.g. "tokenizer.json: model.vocab: expected object, got array").
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dsvl::text {

// `parent` is the path of obj inside the file ("" for the root); the key is appended to it.
const nlohmann::json& GetMember(const nlohmann::json& obj, const char* key, const std::string& where,
                                const std::string& parent);
std::string GetString(const nlohmann::json& obj, const char* key, const std::string& where,
                      const std::string& parent);
const nlohmann::json& GetArray(const nlohmann::json& obj, const char* key, const std::string& where,
                               const std::string& parent);
const nlohmann::json& GetObject(const nlohmann::json& obj, const char* key, const std::string& where,
                                const std::string& parent);
// Missing or null → fallback.
bool GetBool(const nlohmann::json& obj, const char* key, const std::string& where, const std::string& parent,
             bool fallback);
int64_t GetInt(const nlohmann::json& obj, const char* key, const std::string& where, const std::string& parent);

std::string FieldPath(const std::string& parent, const char* key);

}  // namespace dsvl::text
