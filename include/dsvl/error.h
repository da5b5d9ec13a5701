// Error model. Internal code throws dsvl::Error; every public entry point (CLI, runtime API, server)
// catches it and turns it into a Status, so bad input never aborts the process. An Error names what
// was being read (file or request), the field, and the expected and actual values, because "invalid
// tensor" alone does not tell a user which of 1,800 tensors in which of four shards is wrong.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace dsvl {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // caller passed something unusable (flag, request field)
  kNotFound,         // file, tensor or token absent
  kCorruptData,      // a file exists but its contents are malformed
  kUnsupported,      // well-formed but outside what dsvl implements (dtype, architecture)
  kLimitExceeded,    // a configured size limit (pixels, bytes, tokens) was hit
  kIo,               // the OS refused (open, mmap, read)
  kOutOfMemory,      // an allocation failed (the message names what and how many bytes)
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Builds a message of the form "<where>: <field>: expected <e>, got <a>" from whichever parts are set.
struct ErrorContext {
  std::string where;     // file path, tensor name, request id ...
  std::string field;     // JSON key, header field ...
  std::string expected;
  std::string actual;
  std::string detail;    // free text appended last
  std::string Format() const;
};

[[noreturn]] void Throw(ErrorCode code, const ErrorContext& ctx);
[[noreturn]] void Throw(ErrorCode code, const std::string& message);

// Status is the value form of an Error, returned across API boundaries.
class Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status FromError(const Error& e) { return Status(e.code(), e.what()); }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Runs fn, converting any dsvl::Error (or std::exception) into a Status.
template <typename Fn>
Status Capture(Fn&& fn) {
  try {
    fn();
    return Status();
  } catch (const Error& e) {
    return Status::FromError(e);
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kOutOfMemory, "out of memory");
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInternal, e.what());
  }
}

}  // namespace dsvl

// Checks an internal invariant that input validation should already have guaranteed.
#define DSVL_CHECK(cond, msg)                                                     \
  do {                                                                            \
    if (!(cond)) ::dsvl::Throw(::dsvl::ErrorCode::kInternal,                      \
                               std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                                   ": check failed: " #cond ": " + (msg));        \
  } while (0)
