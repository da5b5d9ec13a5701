#include "text/pre_tokenizer.h"

#include <nlohmann/json.hpp>

#include "dsvl/error.h"
#include "text/json_util.h"

namespace dsvl::text {
namespace {

// The split the HF ByteLevel pre-tokenizer applies when use_regex is true (GPT-2's pattern).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

SplitBehavior ParseBehavior(const nlohmann::json& j, const std::string& where, const std::string& field) {
  std::string b = GetString(j, "behavior", where, field);
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  Throw(ErrorCode::kUnsupported,
        ErrorContext{where, field + ".behavior",
                     "Removed|Isolated|MergedWithPrevious|MergedWithNext|Contiguous", b, ""});
}

struct Segment {
  size_t begin, end;
  bool is_match;
};

// Cuts `piece` at the step's matches and applies its behaviour, like HF NormalizedString::split.
void ApplyStep(const SplitStep& step, std::string_view piece, std::vector<std::pair<size_t, size_t>>& matches,
               std::vector<Segment>& segs, std::vector<std::string_view>& out) {
  matches.clear();
  if (step.fast) {
    step.fast->FindAll(piece, matches);
  } else if (step.regex) {
    step.regex->FindAll(piece, matches);
  } else {
    for (size_t pos = piece.find(step.literal); pos != std::string_view::npos;
         pos = piece.find(step.literal, pos + step.literal.size())) {
      matches.emplace_back(pos, pos + step.literal.size());
    }
  }
  if (step.behavior == SplitBehavior::kIsolated) {
    // Every segment is kept on its own whether or not it is a match (so `invert` does not matter):
    // emit them directly, the common case for byte-level BPE files.
    size_t at = 0;
    for (auto [s, e] : matches) {
      if (s != at) out.push_back(piece.substr(at, s - at));
      if (e != s) out.push_back(piece.substr(s, e - s));
      at = e;
    }
    if (at != piece.size()) out.push_back(piece.substr(at));
    return;
  }
  segs.clear();
  size_t prev = 0;
  for (auto [s, e] : matches) {
    if (s != prev) segs.push_back({prev, s, false});
    segs.push_back({s, e, true});
    prev = e;
  }
  if (prev != piece.size()) segs.push_back({prev, piece.size(), false});
  if (step.invert) {
    for (auto& s : segs) s.is_match = !s.is_match;
  }

  // Merge in place into segs[0..n), then emit the non-empty ones.
  size_t n = 0;
  bool previous_match = false;
  switch (step.behavior) {
    case SplitBehavior::kIsolated:
      n = segs.size();
      break;
    case SplitBehavior::kRemoved:
      for (const auto& s : segs) {
        if (!s.is_match) segs[n++] = s;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const auto& s : segs) {
        if (s.is_match && !previous_match && n > 0) {
          segs[n - 1].end = s.end;
        } else {
          segs[n++] = s;
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kContiguous:
      for (const auto& s : segs) {
        if (s.is_match == previous_match && n > 0) {
          segs[n - 1].end = s.end;
        } else {
          segs[n++] = s;
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext: {
      // Walk backwards, writing merged segments to the end of the array, then emit in order.
      size_t w = segs.size();
      for (size_t i = segs.size(); i-- > 0;) {
        const Segment s = segs[i];
        if (s.is_match && !previous_match && w < segs.size()) {
          segs[w].begin = s.begin;
        } else {
          segs[--w] = s;
        }
        previous_match = s.is_match;
      }
      for (size_t i = w; i < segs.size(); ++i) {
        if (segs[i].end > segs[i].begin) out.push_back(piece.substr(segs[i].begin, segs[i].end - segs[i].begin));
      }
      return;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (segs[i].end > segs[i].begin) out.push_back(piece.substr(segs[i].begin, segs[i].end - segs[i].begin));
  }
}

}  // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::FromJson(const nlohmann::json& json, const std::string& where,
                                                     bool use_fast_matchers) {
  auto pt = std::make_unique<PreTokenizer>();
  pt->use_fast_matchers_ = use_fast_matchers;
  if (json.is_null()) return pt;
  if (!json.is_object()) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, "pre_tokenizer", "object or null", json.type_name(), ""});
  }
  if (GetString(json, "type", where, "pre_tokenizer") == "Sequence") {
    const auto& list = GetArray(json, "pretokenizers", where, "pre_tokenizer");
    for (size_t i = 0; i < list.size(); ++i) {
      pt->AddStep(list[i], where, "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]",
                  i + 1 == list.size());
    }
  } else {
    pt->AddStep(json, where, "pre_tokenizer", true);
  }
  return pt;
}

void PreTokenizer::AddStep(const nlohmann::json& j, const std::string& where, const std::string& field,
                           bool last) {
  if (!j.is_object()) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, field, "object", j.type_name(), ""});
  }
  std::string type = GetString(j, "type", where, field);
  SplitStep step;
  if (type == "Split") {
    const auto& pattern = GetObject(j, "pattern", where, field);
    if (pattern.contains("Regex")) {
      SetRegex(step, GetString(pattern, "Regex", where, field + ".pattern"), where + ": " + field + ".pattern.Regex");
    } else if (pattern.contains("String")) {
      step.literal = GetString(pattern, "String", where, field + ".pattern");
      if (step.literal.empty()) {
        Throw(ErrorCode::kCorruptData, ErrorContext{where, field + ".pattern.String", "non-empty string", "\"\"", ""});
      }
    } else {
      Throw(ErrorCode::kCorruptData, ErrorContext{where, field + ".pattern", "{\"Regex\": ...} or {\"String\": ...}",
                                                  pattern.dump(), ""});
    }
    step.behavior = ParseBehavior(j, where, field);
    step.invert = GetBool(j, "invert", where, field, false);
  } else if (type == "Digits") {
    // HF splits on char::is_numeric (general category N); individual digits are isolated, otherwise
    // runs of digits are kept together (Contiguous).
    SetRegex(step, R"(\p{N})", where + ": " + field);
    step.behavior = GetBool(j, "individual_digits", where, field, false) ? SplitBehavior::kIsolated
                                                                        : SplitBehavior::kContiguous;
  } else if (type == "ByteLevel") {
    if (!last) {
      Throw(ErrorCode::kUnsupported, ErrorContext{where, field, "ByteLevel as the last pre-tokenizer", "", ""});
    }
    byte_level_ = true;
    add_prefix_space_ = GetBool(j, "add_prefix_space", where, field, true);
    if (GetBool(j, "use_regex", where, field, true)) {
      byte_level_regex_ = std::make_unique<SplitStep>();
      SetRegex(*byte_level_regex_, kGpt2Pattern, where + ": " + field);
    }
    return;
  } else {
    Throw(ErrorCode::kUnsupported, ErrorContext{where, field + ".type", "Split, Digits, ByteLevel or Sequence",
                                                type, ""});
  }
  steps_.push_back(std::move(step));
}

void PreTokenizer::SetRegex(SplitStep& step, const std::string& pattern, const std::string& where) const {
  step.regex = std::make_unique<Regex>(pattern, where);
  if (use_fast_matchers_) step.fast = MakeSplitMatcher(pattern, *step.regex, where);
}

void PreTokenizer::Split(std::string_view text, std::string& scratch,
                         std::vector<std::string_view>& pieces) const {
  thread_local std::vector<std::string_view> a, b;
  thread_local std::vector<std::pair<size_t, size_t>> matches;
  thread_local std::vector<Segment> segs;
  a.clear();
  if (!text.empty()) a.push_back(text);
  for (const auto& step : steps_) {
    b.clear();
    for (std::string_view p : a) ApplyStep(step, p, matches, segs, b);
    a.swap(b);
  }
  if (add_prefix_space_) {
    // Each piece gets its own leading space; the copies go to scratch, reserved up front so the
    // views stay valid (one extra byte per piece at most).
    scratch.clear();
    scratch.reserve(text.size() * 2 + 1);
    for (auto& p : a) {
      if (p.front() == ' ') continue;
      size_t at = scratch.size();
      scratch += ' ';
      scratch.append(p);
      p = std::string_view(scratch).substr(at, p.size() + 1);
    }
  }
  if (byte_level_regex_) {
    for (std::string_view p : a) ApplyStep(*byte_level_regex_, p, matches, segs, pieces);
  } else {
    pieces.insert(pieces.end(), a.begin(), a.end());
  }
}

}  // namespace dsvl::text
