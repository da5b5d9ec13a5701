#include "dsvl/error.h"

namespace dsvl {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kCorruptData: return "corrupt data";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kLimitExceeded: return "limit exceeded";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kOutOfMemory: return "out of memory";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

std::string ErrorContext::Format() const {
  std::string s = where;
  auto add = [&s](const std::string& part) {
    if (part.empty()) return;
    if (!s.empty()) s += ": ";
    s += part;
  };
  add(field);
  if (!expected.empty() || !actual.empty()) {
    std::string ea;
    if (!expected.empty()) ea += "expected " + expected;
    if (!actual.empty()) ea += (ea.empty() ? "got " : ", got ") + actual;
    add(ea);
  }
  add(detail);
  return s;
}

void Throw(ErrorCode code, const ErrorContext& ctx) { throw Error(code, ctx.Format()); }
void Throw(ErrorCode code, const std::string& message) { throw Error(code, message); }

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(ErrorCodeName(code_)) + ": " + message_;
}

}  // namespace dsvl
