// Runs fn and returns the dsvl::ErrorCode it threw (kOk when it threw nothing); `what`, if given,
// receives the message. For tests that check which error an input gives and what it names.
#pragma once

#include <functional>
#include <string>

#include "dsvl/error.h"

namespace dsvl::test {

inline ErrorCode CodeOf(const std::function<void()>& fn, std::string* what = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (what) *what = e.what();
    return e.code();
  }
  return ErrorCode::kOk;
}

}  // namespace dsvl::test
