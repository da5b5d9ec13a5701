// Pre-tokenizer steps in isolation. Expected splits follow the HF `tokenizers` documentation of
// SplitDelimiterBehavior ("the-final--countdown" with delimiter "-").
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dsvl/error.h"
#include "text/pre_tokenizer.h"

namespace dsvl::text {
namespace {

std::vector<std::string> PreSplit(const std::string& json_text, const std::string& text) {
  auto pt = PreTokenizer::FromJson(nlohmann::json::parse(json_text), "test.json");
  std::string scratch;
  std::vector<std::string_view> pieces;
  pt->Split(text, scratch, pieces);
  return {pieces.begin(), pieces.end()};
}

std::string SplitJson(const std::string& behavior, bool invert = false) {
  return R"({"type": "Split", "pattern": {"String": "-"}, "behavior": ")" + behavior +
         R"(", "invert": )" + (invert ? "true" : "false") + "}";
}

using V = std::vector<std::string>;

TEST(PreTokenizer, SplitBehaviors) {
  const std::string t = "the-final--countdown";
  EXPECT_EQ(PreSplit(SplitJson("Removed"), t), (V{"the", "final", "countdown"}));
  EXPECT_EQ(PreSplit(SplitJson("Isolated"), t), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(PreSplit(SplitJson("MergedWithPrevious"), t), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(PreSplit(SplitJson("MergedWithNext"), t), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(PreSplit(SplitJson("Contiguous"), t), (V{"the", "-", "final", "--", "countdown"}));
  // invert: the non-delimiter runs are the matches, so Removed keeps only the delimiters.
  EXPECT_EQ(PreSplit(SplitJson("Removed", true), t), (V{"-", "-", "-"}));
}

TEST(PreTokenizer, DigitsAndSequence) {
  EXPECT_EQ(PreSplit(R"({"type": "Digits", "individual_digits": true})", "ab12٣x"), (V{"ab", "1", "2", "٣", "x"}));
  EXPECT_EQ(PreSplit(R"({"type": "Digits", "individual_digits": false})", "ab12٣x"), (V{"ab", "12٣", "x"}));
  EXPECT_EQ(PreSplit(R"({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false},
                    {"type": "Digits", "individual_digits": true}]})",
                "a1 22"),
            (V{"a", "1", " ", "2", "2"}));
}

TEST(PreTokenizer, RegexSeesOnlyThePiece) {
  // `$` is an end-of-line anchor in Oniguruma's default syntax (as in the Rust onig crate), and the
  // pattern only sees the current piece.
  EXPECT_EQ(PreSplit(R"({"type": "Split", "pattern": {"Regex": "\\s+$"}, "behavior": "Isolated", "invert": false})",
                "a  \nb  "),
            (V{"a", "  ", "\nb", "  "}));
  // \s+(?!\S) leaves the last space to the following word.
  EXPECT_EQ(PreSplit(R"({"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)|\\s+"}, "behavior": "Isolated",
                    "invert": false})",
                "a   b"),
            (V{"a", "  ", " ", "b"}));
}

TEST(PreTokenizer, ByteLevelPrefixSpaceAndRegex) {
  EXPECT_EQ(PreSplit(R"({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true})", "Hello world's 42!"),
            (V{" Hello", " world", "'s", " 42", "!"}));
  EXPECT_EQ(PreSplit(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})", "Hello world"),
            (V{"Hello world"}));
}

TEST(PreTokenizer, Errors) {
  EXPECT_THROW(PreSplit(R"({"type": "Whitespace"})", "x"), Error);
  EXPECT_THROW(PreSplit(R"({"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"})", "x"), Error);
  EXPECT_THROW(PreSplit(R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"})", "x"), Error);
  EXPECT_THROW(PreSplit(R"({"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]})", "x"),
               Error);
}

}  // namespace
}  // namespace dsvl::text
