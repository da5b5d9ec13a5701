#include "model/grounding.h"

#include <cctype>
#include <string>

namespace dsvl {
namespace {

constexpr std::string_view kRef = "<|ref|>";
constexpr std::string_view kRefEnd = "<|/ref|>";
constexpr std::string_view kDet = "<|det|>";
constexpr std::string_view kDetEnd = "<|/det|>";
constexpr int64_t kMaxCoord = 999;

std::string Snippet(std::string_view s) {
  std::string out(s.substr(0, 60));
  if (s.size() > 60) out += "...";
  return out;
}

void SkipSpace(std::string_view s, size_t& i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
}

// Parses a non-negative integer (the official code eval()s the list; a fraction would still work
// there, so a trailing ".digits" is accepted and truncated like the int() that follows).
bool ParseNumber(std::string_view s, size_t& i, int64_t& v) {
  SkipSpace(s, i);
  const size_t start = i;
  v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (v < 1'000'000'000) v = v * 10 + (s[i] - '0');
    ++i;
  }
  if (i == start) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  return true;
}

// One "[a, b, c, d]" list starting at s[i] == '['. On failure i is left after the bad list.
bool ParseBox(std::string_view s, size_t& i, int64_t out[4], std::string& why) {
  const size_t close = s.find(']', i);
  const std::string_view item = s.substr(i, close == std::string_view::npos ? s.size() - i : close - i + 1);
  size_t j = i + 1;
  i = close == std::string_view::npos ? s.size() : close + 1;
  for (int k = 0; k < 4; ++k) {
    if (!ParseNumber(s, j, out[k])) {
      why = "box " + Snippet(item) + " does not hold 4 integers";
      return false;
    }
    SkipSpace(s, j);
    const char want = k < 3 ? ',' : ']';
    if (j >= s.size() || s[j] != want) {
      why = "box " + Snippet(item) + " does not hold 4 integers";
      return false;
    }
    ++j;
  }
  for (int k = 0; k < 4; ++k) {
    if (out[k] > kMaxCoord) {
      why = "box " + Snippet(item) + " has a coordinate above 999";
      return false;
    }
  }
  return true;
}

void ParseDet(std::string_view body, const std::string& label, int64_t width, int64_t height,
              GroundingResult& result) {
  // body: "[[x1, y1, x2, y2], [...]]"; parse_ref_bbox drops the outer brackets and takes every
  // inner "[...]".
  size_t i = 0;
  SkipSpace(body, i);
  if (i < body.size() && body[i] == '[') ++i;
  int found = 0;
  while (true) {
    const size_t open = body.find('[', i);
    if (open == std::string_view::npos) break;
    i = open;
    GroundingBox b;
    b.label = label;
    std::string why;
    if (!ParseBox(body, i, b.norm, why)) {
      result.warnings.push_back(why);
      continue;
    }
    ++found;
    for (int k = 0; k < 4; ++k) {
      const int64_t extent = k % 2 == 0 ? width : height;
      // int(v / 999 * W) in Python floats: computed in double and truncated.
      b.box[k] = static_cast<int64_t>(static_cast<double>(b.norm[k]) / 999.0 * static_cast<double>(extent));
    }
    if (b.norm[2] < b.norm[0] || b.norm[3] < b.norm[1]) {
      result.warnings.push_back("box for \"" + label + "\" has x2 < x1 or y2 < y1");
    }
    result.boxes.push_back(b);
  }
  if (found == 0) {
    result.warnings.push_back("no valid box in <|det|>" + Snippet(body) + "<|/det|>");
  }
}

}  // namespace

GroundingResult ParseGrounding(std::string_view text, int64_t width, int64_t height) {
  GroundingResult result;
  std::string pending_label;
  bool have_label = false;
  size_t i = 0;
  while (i < text.size()) {
    const size_t ref = text.find(kRef, i);
    const size_t det = text.find(kDet, i);
    if (ref == std::string_view::npos && det == std::string_view::npos) break;
    if (ref != std::string_view::npos && (det == std::string_view::npos || ref < det)) {
      const size_t start = ref + kRef.size();
      const size_t end = text.find(kRefEnd, start);
      if (end == std::string_view::npos) {
        result.warnings.push_back("unterminated <|ref|>" + Snippet(text.substr(start)));
        break;
      }
      if (have_label) result.warnings.push_back("<|ref|>" + pending_label + "<|/ref|> has no <|det|> boxes");
      pending_label = std::string(text.substr(start, end - start));
      have_label = true;
      i = end + kRefEnd.size();
    } else {
      const size_t start = det + kDet.size();
      const size_t end = text.find(kDetEnd, start);
      if (end == std::string_view::npos) {
        result.warnings.push_back("unterminated <|det|>" + Snippet(text.substr(start)));
        break;
      }
      ParseDet(text.substr(start, end - start), have_label ? pending_label : std::string(), width, height,
               result);
      have_label = false;
      pending_label.clear();
      i = end + kDetEnd.size();
    }
  }
  if (have_label) result.warnings.push_back("<|ref|>" + pending_label + "<|/ref|> has no <|det|> boxes");
  return result;
}

}  // namespace dsvl
