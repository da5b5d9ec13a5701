// Bitwise equality of two generations' per-step log-probabilities (the chosen id and the top
// alternatives): what the concurrency tests use to show that running beside other work changed
// nothing. Header-only.
#pragma once

#include <vector>

#include "dsvl/dsvl.h"

namespace dsvl::test {

inline bool SameLogprobs(const std::vector<StepLogprobs>& a, const std::vector<StepLogprobs>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].logprob != b[i].logprob || a[i].top.size() != b[i].top.size()) return false;
    for (size_t j = 0; j < a[i].top.size(); ++j)
      if (a[i].top[j].id != b[i].top[j].id || a[i].top[j].logprob != b[i].top[j].logprob) return false;
  }
  return true;
}

}  // namespace dsvl::test
