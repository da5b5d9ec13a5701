// Fast replacements for the Oniguruma searches of the pre-tokenizer Split patterns that byte-level
// BPE files actually use. Oniguruma retries the whole pattern at every start position of every
// piece, which made pre-tokenization most of the encode time; these matchers scan each piece once
// with per-code-point class tables (CodePointClass, filled by asking Oniguruma), and simulate the
// backtracking order of the recognised pattern shapes exactly:
//   A          one character of class A          ([\r\n], \p{N} from Digits)
//   A+, A{1,K} maximal runs of A (cut every K)    ([一-龥...]+, \p{N}{1,3})
//   B?A+       optional B, then a run of A        (\s?[A-Za-z...]+, \s?[!-/...]+)
//   A+$        a run of A ending the line         (\s+$)
//   the DeepSeek-V3 word pattern (an alternation, see split_matcher.cpp)
// where an atom A or B is \s, \S, \p{Name}, \P{Name} or a bracket class without nested brackets.
// Anything else keeps using Oniguruma. tests/text/split_matcher_test.cpp checks each shape
// against Oniguruma on random text.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/regex.h"

namespace dsvl::text {

class SplitMatcher {
 public:
  virtual ~SplitMatcher() = default;
  // Same contract as Regex::FindAll; `text` must be valid UTF-8 (Tokenizer::Encode checks it).
  virtual void FindAll(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const = 0;
};

// A matcher equivalent to `regex` (compiled from `pattern`), or nullptr if `pattern` is not one of
// the shapes above. `regex` must outlive the matcher: rare inputs are handed back to it.
std::unique_ptr<SplitMatcher> MakeSplitMatcher(const std::string& pattern, const Regex& regex,
                                               const std::string& where);

}  // namespace dsvl::text
