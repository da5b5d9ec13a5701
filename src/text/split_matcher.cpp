#include "text/split_matcher.h"

#include <cstring>

#include "text/code_point_class.h"

namespace dsvl::text {
namespace {

constexpr size_t kUnlimited = static_cast<size_t>(-1);  // run length without a bound
constexpr size_t kNoMatch = static_cast<size_t>(-1);    // MatchAt: no match starts here

// The piece being scanned, with code point access at byte offsets that start a character.
struct Subject {
  const char* s;
  size_t n;

  uint32_t At(size_t i, size_t& len) const { return DecodeUtf8At(s, n, i, len); }
  bool In(const CodePointClass& c, size_t i) const {
    size_t len;
    return i < n && c.Contains(At(i, len));
  }
  // Offset of the character before offset i > 0.
  size_t Prev(size_t i) const {
    do {
      --i;
    } while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80);
    return i;
  }
  // End of the run of at most max_chars characters of c starting at i (i itself if none).
  size_t RunEnd(const CodePointClass& c, size_t i, size_t max_chars = kUnlimited) const {
    for (size_t k = 0; k < max_chars && i < n; ++k) {
      size_t len;
      if (!c.Contains(At(i, len))) break;
      i += len;
    }
    return i;
  }
};

// Drives a per-position matcher like onig_search does: the leftmost start with a match wins, the
// search resumes at its end. MatchAt(t, p, c, p1) gets the character c at p and the offset p1 after
// it, and returns the match end or kNoMatch; all matches are non-empty.
template <typename Derived>
class LeftmostMatcher : public SplitMatcher {
 public:
  void FindAll(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const override {
    const Subject t{text.data(), text.size()};
    const auto& self = static_cast<const Derived&>(*this);
    for (size_t p = 0; p < t.n;) {
      size_t len;
      const uint32_t c = t.At(p, len);
      size_t e = self.MatchAt(t, p, c, p + len);
      if (e != kNoMatch) {
        out.emplace_back(p, e);
        p = e;
      } else {
        p += len;
      }
    }
  }
};

// A (max_chars 1), A+ (unlimited) and A{1,K}.
class RunMatcher final : public LeftmostMatcher<RunMatcher> {
 public:
  RunMatcher(const std::string& atom, size_t max_chars, const std::string& where)
      : a_(atom, where), max_chars_(max_chars) {}
  size_t MatchAt(const Subject& t, size_t /*p*/, uint32_t c, size_t p1) const {
    return a_.Contains(c) ? t.RunEnd(a_, p1, max_chars_ - 1) : kNoMatch;
  }

 private:
  CodePointClass a_;
  size_t max_chars_;
};

// B?A+: greedy, so B is taken when a run of A follows it; otherwise the run must start at p.
class OptionalThenRunMatcher final : public LeftmostMatcher<OptionalThenRunMatcher> {
 public:
  OptionalThenRunMatcher(const std::string& b, const std::string& a, const std::string& where)
      : b_(b, where), a_(a, where) {}
  size_t MatchAt(const Subject& t, size_t /*p*/, uint32_t c, size_t p1) const {
    if (b_.Contains(c) && t.In(a_, p1)) return t.RunEnd(a_, p1);
    if (a_.Contains(c)) return t.RunEnd(a_, p1);
    return kNoMatch;
  }

 private:
  CodePointClass b_, a_;
};

// A+$ in Oniguruma's default syntax, where $ matches at the end of the subject and before a line
// feed: from the leftmost start of a run of A, the greedy run backs off until $ holds. If this
// Oniguruma build also ends lines at other characters (build options; probed once), pieces holding
// any of them are handed to Oniguruma.
class TrailingRunMatcher final : public SplitMatcher {
 public:
  TrailingRunMatcher(const std::string& atom, const Regex& regex, const std::string& where)
      : a_(atom, where), regex_(regex) {
    const Regex probe("a$", where);
    for (const char* end : {"\r", "\r\n", "\v", "\f", "\xC2\x85", "\xE2\x80\xA8", "\xE2\x80\xA9"}) {
      if (probe.MatchPrefix(std::string("a") + end) != std::string_view::npos) other_line_ends_ = true;
    }
  }

  void FindAll(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const override {
    if (other_line_ends_ && MayHoldOtherLineEnd(text)) {
      regex_.FindAll(text, out);
      return;
    }
    const Subject t{text.data(), text.size()};
    if (std::memchr(t.s, '\n', t.n) == nullptr) {
      // $ only holds at the end: the match is the run of A that ends the piece.
      size_t start = t.n;
      while (start > 0 && t.In(a_, t.Prev(start))) start = t.Prev(start);
      if (start < t.n) out.emplace_back(start, t.n);
      return;
    }
    for (size_t p = 0; p < t.n;) {
      size_t len;
      if (!a_.Contains(t.At(p, len))) {
        p += len;
        continue;
      }
      const size_t run_end = t.RunEnd(a_, p + len);
      size_t q = run_end;
      while (q > p && !(q == t.n || t.s[q] == '\n')) q = t.Prev(q);
      if (q > p) {
        out.emplace_back(p, q);
        p = q;
      } else {
        // Every later start inside this run ends at run_end too and has fewer places for $.
        p = run_end;
      }
    }
  }

 private:
  static bool MayHoldOtherLineEnd(std::string_view text) {
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    for (size_t i = 0; i < n; ++i) {
      const uint8_t b = s[i];
      if (b >= 0x0B && b <= 0x0D) return true;
      if (b == 0xC2 && i + 1 < n && s[i + 1] == 0x85) return true;
      if (b == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) return true;
    }
    return false;
  }

  CodePointClass a_;
  const Regex& regex_;
  bool other_line_ends_ = false;
};

// The DeepSeek-V3 word pattern (after its digit and CJK splits), alternatives tried in order:
//   (a) [ascii punct][A-Za-z]+      (b) [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
//   (c)  ?[\p{P}\p{S}]+[\r\n]*      (d) \s*[\r\n]+      (e) \s+(?!\S)      (f) \s+
struct V3Classes {
  static constexpr const char* kAsciiPunct = R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])";
  static constexpr const char* kAsciiLetter = "[A-Za-z]";
  static constexpr const char* kNotCrLfLetterPunctSymbol = "[^\r\n\\p{L}\\p{P}\\p{S}]";
  static constexpr const char* kLetterMark = "[\\p{L}\\p{M}]";
  static constexpr const char* kPunctSymbol = "[\\p{P}\\p{S}]";
  static constexpr const char* kCrLf = "[\r\n]";

  static std::string Pattern() {
    return std::string(kAsciiPunct) + kAsciiLetter + "+|" + kNotCrLfLetterPunctSymbol + "?" + kLetterMark +
           "+| ?" + kPunctSymbol + "+" + kCrLf + "*|\\s*" + kCrLf + "+|\\s+(?!\\S)|\\s+";
  }
};

class DeepSeekV3WordMatcher final : public LeftmostMatcher<DeepSeekV3WordMatcher> {
 public:
  explicit DeepSeekV3WordMatcher(const std::string& where)
      : ascii_punct_(V3Classes::kAsciiPunct, where),
        ascii_letter_(V3Classes::kAsciiLetter, where),
        not_crlf_letter_punct_symbol_(V3Classes::kNotCrLfLetterPunctSymbol, where),
        letter_mark_(V3Classes::kLetterMark, where),
        punct_symbol_(V3Classes::kPunctSymbol, where),
        crlf_(V3Classes::kCrLf, where),
        space_("\\s", where),
        not_space_("\\S", where) {}

  size_t MatchAt(const Subject& t, size_t p, uint32_t c, size_t p1) const {
    // (a)
    if (ascii_punct_.Contains(c) && t.In(ascii_letter_, p1)) return t.RunEnd(ascii_letter_, p1);
    // (b): the optional character is taken only if a run follows it.
    if (not_crlf_letter_punct_symbol_.Contains(c) && t.In(letter_mark_, p1)) return t.RunEnd(letter_mark_, p1);
    if (letter_mark_.Contains(c)) return t.RunEnd(letter_mark_, p1);
    // (c): the trailing [\r\n]* always succeeds, greedily.
    if (c == ' ' && t.In(punct_symbol_, p1)) return t.RunEnd(crlf_, t.RunEnd(punct_symbol_, p1));
    if (punct_symbol_.Contains(c)) return t.RunEnd(crlf_, t.RunEnd(punct_symbol_, p1));
    // (d): \s* backs off from its longest run until [\r\n] follows.
    const bool is_space = space_.Contains(c);
    const size_t space_end = is_space ? t.RunEnd(space_, p1) : p;
    for (size_t q = space_end;; q = t.Prev(q)) {
      if (t.In(crlf_, q)) return t.RunEnd(crlf_, q);
      if (q == p) break;
    }
    if (!is_space) return kNoMatch;
    // (e): \s+ backs off (keeping one character) until no \S follows.
    for (size_t q = space_end; q > p; q = t.Prev(q)) {
      if (!t.In(not_space_, q)) return q;
    }
    // (f)
    return space_end;
  }

 private:
  CodePointClass ascii_punct_, ascii_letter_, not_crlf_letter_punct_symbol_, letter_mark_, punct_symbol_, crlf_,
      space_, not_space_;
};

// End of the atom starting at pattern[i] (see split_matcher.h), or 0 if there is none there.
size_t AtomEnd(const std::string& p, size_t i) {
  if (i >= p.size()) return 0;
  if (p[i] == '\\') {
    if (i + 1 >= p.size()) return 0;
    const char c = p[i + 1];
    if (c == 's' || c == 'S') return i + 2;
    if ((c == 'p' || c == 'P') && i + 2 < p.size() && p[i + 2] == '{') {
      size_t close = p.find('}', i + 3);
      if (close == std::string::npos || close == i + 3) return 0;
      for (size_t k = i + 3; k < close; ++k) {
        const char n = p[k];
        if (!((n >= 'A' && n <= 'Z') || (n >= 'a' && n <= 'z') || (n >= '0' && n <= '9') || n == '_')) return 0;
      }
      return close + 1;
    }
    return 0;
  }
  if (p[i] != '[') return 0;
  size_t j = i + 1;
  if (j < p.size() && p[j] == '^') ++j;
  const size_t body = j;
  for (; j < p.size(); ++j) {
    if (p[j] == '\\') {
      ++j;  // the escaped byte is never a bracket of the class syntax
    } else if (p[j] == '[') {
      return 0;  // nested class, POSIX bracket or intersection: leave it to Oniguruma
    } else if (p[j] == ']') {
      break;
    }
  }
  if (j >= p.size() || j == body) return 0;
  return j + 1;
}

// "{1,K}" with 1 <= K <= 9999 -> K, else 0.
size_t IntervalMax(const std::string& rest) {
  if (rest.size() < 5 || rest.compare(0, 3, "{1,") != 0 || rest.back() != '}') return 0;
  const std::string digits = rest.substr(3, rest.size() - 4);
  if (digits.empty() || digits.size() > 4) return 0;
  size_t k = 0;
  for (char d : digits) {
    if (d < '0' || d > '9') return 0;
    k = k * 10 + static_cast<size_t>(d - '0');
  }
  return k;
}

}  // namespace

std::unique_ptr<SplitMatcher> MakeSplitMatcher(const std::string& pattern, const Regex& regex,
                                               const std::string& where) {
  if (pattern == V3Classes::Pattern()) return std::make_unique<DeepSeekV3WordMatcher>(where);
  const size_t a_end = AtomEnd(pattern, 0);
  if (a_end == 0) return nullptr;
  const std::string a = pattern.substr(0, a_end);
  const std::string rest = pattern.substr(a_end);
  if (rest.empty()) return std::make_unique<RunMatcher>(a, 1, where);
  if (rest == "+") return std::make_unique<RunMatcher>(a, kUnlimited, where);
  if (rest == "+$") return std::make_unique<TrailingRunMatcher>(a, regex, where);
  if (size_t k = IntervalMax(rest); k > 0) return std::make_unique<RunMatcher>(a, k, where);
  if (rest[0] == '?') {
    const size_t a2_end = AtomEnd(pattern, a_end + 1);
    if (a2_end != 0 && pattern.substr(a2_end) == "+") {
      return std::make_unique<OptionalThenRunMatcher>(a, pattern.substr(a_end + 1, a2_end - a_end - 1), where);
    }
  }
  return nullptr;
}

}  // namespace dsvl::text
