// Errors in the OpenAI shape: an HTTP status and {"error": {"message", "type", "param", "code"}}.
// Request parsing throws ApiError; engine failures (dsvl::Status) are mapped by FromStatus.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "dsvl/error.h"

namespace dsvl::serve {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "")
      : std::runtime_error(message), status(status), param(std::move(param)), code(std::move(code)),
        type(type.empty() ? DefaultType(status) : std::move(type)) {}

  static std::string DefaultType(int status);
  nlohmann::json ToJson() const;

  int status;
  std::string param;  // the request field at fault ("" = null)
  std::string code;   // machine-readable reason ("" = null)
  std::string type;   // invalid_request_error, authentication_error, server_error ...
};

// 400 for what the request asked (bad image, limits, context), 503 for out of memory, 500 otherwise.
ApiError FromStatus(const Status& status);

// Shorthand for a 400 naming the field.
[[noreturn]] void BadRequest(const std::string& param, const std::string& message,
                             const std::string& code = "invalid_value");

}  // namespace dsvl::serve
