// Pre-tokenization: splits a text segment (between added tokens) into the pieces that BPE encodes
// independently. Mirrors the HF `tokenizers` pre-tokenizers used by byte-level BPE files: Split
// (regex or literal, all five behaviours, invert), Digits, ByteLevel, and Sequence of these.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/regex.h"
#include "text/split_matcher.h"

namespace dsvl::text {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// One splitting step; works on byte ranges of the original text.
struct SplitStep {
  std::unique_ptr<Regex> regex;  // set for Regex patterns and Digits
  std::unique_ptr<SplitMatcher> fast;  // same matches as `regex`, found faster (recognised patterns only)
  std::string literal;           // set for String patterns
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
};

class PreTokenizer {
 public:
  // `json` is the tokenizer.json "pre_tokenizer" value (may be null); `where` names the file for
  // errors. Unknown types throw dsvl::Error(kUnsupported) naming the field. use_fast_matchers=false
  // runs every pattern through Oniguruma (the reference the fast matchers are tested against).
  static std::unique_ptr<PreTokenizer> FromJson(const nlohmann::json& json, const std::string& where,
                                                bool use_fast_matchers = true);

  // Splits valid UTF-8 text into pieces (in order, none empty), appended to `pieces`. Pieces view `text`, or
  // `scratch` where ByteLevel's add_prefix_space had to prepend a space; scratch must outlive them.
  // The pieces are raw bytes: when byte_level() is true the caller maps them to the byte-level
  // alphabet before BPE (done late so the word cache can be keyed on raw bytes). Thread-safe.
  void Split(std::string_view text, std::string& scratch, std::vector<std::string_view>& pieces) const;

  // True if the pipeline ends with ByteLevel (its mapping is left to the caller, see Split).
  bool byte_level() const { return byte_level_; }

 private:
  void AddStep(const nlohmann::json& json, const std::string& where, const std::string& field,
               bool last);
  void SetRegex(SplitStep& step, const std::string& pattern, const std::string& where) const;
  bool use_fast_matchers_ = true;
  std::vector<SplitStep> steps_;        // steps before ByteLevel
  bool byte_level_ = false;
  bool add_prefix_space_ = false;
  std::unique_ptr<SplitStep> byte_level_regex_;  // ByteLevel use_regex: the GPT-2 split, after the prefix
};

}  // namespace dsvl::text
