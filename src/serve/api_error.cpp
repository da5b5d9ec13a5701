#include "serve/api_error.h"

namespace dsvl::serve {

std::string ApiError::DefaultType(int status) {
  if (status == 401) return "authentication_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

nlohmann::json ApiError::ToJson() const {
  nlohmann::json e;
  e["message"] = what();
  e["type"] = type;
  e["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  e["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  return nlohmann::json{{"error", std::move(e)}};
}

ApiError FromStatus(const Status& status) {
  const std::string& msg = status.message();
  switch (status.code()) {
    case ErrorCode::kLimitExceeded:
      if (msg.find("context") != std::string::npos) return ApiError(400, msg, "messages", "context_length_exceeded");
      return ApiError(400, msg, "", "limit_exceeded");
    case ErrorCode::kCorruptData:
      return ApiError(400, msg, "", "invalid_image");
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
    case ErrorCode::kIo:
      return ApiError(400, msg, "", "invalid_request");
    case ErrorCode::kOutOfMemory:
      return ApiError(503, msg, "", "out_of_memory");
    default:
      return ApiError(500, msg, "", "internal_error");
  }
}

void BadRequest(const std::string& param, const std::string& message, const std::string& code) {
  throw ApiError(400, message, param, code);
}

}  // namespace dsvl::serve
