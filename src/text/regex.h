// Thin Oniguruma wrapper. The HF `tokenizers` library compiles pre-tokenizer patterns with the Rust
// `onig` crate (Regex::new: default syntax, no options, UTF-8), so using the same engine with the same
// settings gives the same \p{N}, \p{L}, \s, lookahead and `$` (end of line) semantics.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsvl::text {

class Regex {
 public:
  // Throws dsvl::Error(kCorruptData) with `where` and Oniguruma's message if the pattern is invalid.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of all non-overlapping matches in text, scanning left to
  // right like onig's find_iter (an empty match right after the previous match is skipped). The
  // pattern sees `text` as the whole subject: anchors and lookarounds stop at its edges. Thread-safe.
  void FindAll(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

  // Length of the match anchored at the start of `text` (the whole of `text` is the subject), or
  // std::string_view::npos if the pattern does not match there. Thread-safe.
  size_t MatchPrefix(std::string_view text) const;

 private:
  void* regex_ = nullptr;  // OnigRegex; kept opaque so users do not include oniguruma.h
};

}  // namespace dsvl::text
