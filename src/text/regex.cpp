#include "text/regex.h"

#include <oniguruma.h>

#include <mutex>

#include "dsvl/error.h"
#include "text/utf8.h"

namespace dsvl::text {
namespace {

void InitOniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

// One region per thread: onig_search writes match positions into it, and a shared regex_t may be
// searched concurrently as long as regions are not shared.
OnigRegion* ThreadRegion() {
  struct Holder {
    OnigRegion* region = onig_region_new();
    ~Holder() { onig_region_free(region, 1); }
  };
  thread_local Holder holder;
  return holder.region;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) {
  InitOniguruma();
  if (!IsValidUtf8(pattern)) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, "", "", "", "regex is not valid UTF-8"});
  }
  OnigRegex reg = nullptr;
  OnigErrorInfo einfo;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  int r = onig_new(&reg, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                   ONIG_SYNTAX_DEFAULT, &einfo);
  if (r != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r, &einfo);
    Throw(ErrorCode::kCorruptData,
          ErrorContext{where, "", "", "", "invalid regex /" + pattern + "/: " +
                                              reinterpret_cast<const char*>(msg)});
  }
  regex_ = reg;
}

Regex::~Regex() {
  if (regex_ != nullptr) onig_free(static_cast<OnigRegex>(regex_));
}

void Regex::FindAll(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  auto reg = static_cast<OnigRegex>(regex_);
  OnigRegion* region = ThreadRegion();
  const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
  const OnigUChar* end = str + text.size();
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= text.size()) {
    onig_region_clear(region);
    int r = onig_search(reg, str, end, str + pos, end, region, ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH) return;
    if (r < 0) {
      OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
      onig_error_code_to_str(msg, r);
      Throw(ErrorCode::kInternal, std::string("regex search failed: ") +
                                      reinterpret_cast<const char*>(msg));
    }
    auto s = static_cast<size_t>(region->beg[0]);
    auto e = static_cast<size_t>(region->end[0]);
    if (s == e && have_last && last_end == e) {
      // Same rule as onig's FindMatches: step over one character and search again.
      if (pos >= text.size()) return;
      size_t len = ValidSequenceLength(text, pos);
      pos += len == 0 ? 1 : len;
      continue;
    }
    out.emplace_back(s, e);
    pos = e;
    have_last = true;
    last_end = e;
  }
}

size_t Regex::MatchPrefix(std::string_view text) const {
  const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
  int r = onig_match(static_cast<OnigRegex>(regex_), str, str + text.size(), str, nullptr, ONIG_OPTION_NONE);
  if (r == ONIG_MISMATCH) return std::string_view::npos;
  if (r < 0) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r);
    Throw(ErrorCode::kInternal, std::string("regex match failed: ") + reinterpret_cast<const char*>(msg));
  }
  return static_cast<size_t>(r);
}

}  // namespace dsvl::text
