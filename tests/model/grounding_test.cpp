// Grounding output (docs/model-facts.md, 'VL2 grounding format'):
// <|ref|>label<|/ref|><|det|>[[x1,y1,x2,y2],...]<|/det|>, values 0..999 of the original image,
// pixel = int(v / 999 * W) for x and int(v / 999 * H) for y. Malformed parts are skipped with a
// warning; parsing never throws.
#include "model/grounding.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dsvl {
namespace {

bool AnyWarningContains(const GroundingResult& r, const std::string& s) {
  for (const std::string& w : r.warnings) {
    if (w.find(s) != std::string::npos) return true;
  }
  return false;
}

std::string Warnings(const GroundingResult& r) {
  std::string out;
  for (const std::string& w : r.warnings) out += "[" + w + "] ";
  return out;
}

void ExpectBox(const GroundingBox& b, const std::string& label, std::vector<int64_t> px) {
  EXPECT_EQ(b.label, label);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(b.box[k], px[k]) << label << " coord " << k;
}

TEST(Grounding, MultiBoxUnderOneRef) {
  const GroundingResult r =
      ParseGrounding("<|ref|>giraffe<|/ref|><|det|>[[100, 200, 300, 400], [0,0,999,999]]<|/det|>", 640, 480);
  EXPECT_TRUE(r.warnings.empty()) << Warnings(r);
  ASSERT_EQ(r.boxes.size(), 2u);
  // int(100/999*640) = 64, int(200/999*480) = 96, int(300/999*640) = 192, int(400/999*480) = 192
  ExpectBox(r.boxes[0], "giraffe", {64, 96, 192, 192});
  EXPECT_EQ(r.boxes[0].norm[0], 100);
  EXPECT_EQ(r.boxes[0].norm[3], 400);
  ExpectBox(r.boxes[1], "giraffe", {0, 0, 640, 480});
}

TEST(Grounding, PixelConversionTruncatesLikePythonInt) {
  // 500/999*1000 = 500.5005 -> 500; 998/999*333 = 332.666 -> 332; 1/999*998 = 0.999 -> 0;
  // 999/999*W is exactly W.
  const GroundingResult r = ParseGrounding("<|det|>[[500, 998, 1, 999]]<|/det|>", 1000, 333);
  ASSERT_EQ(r.boxes.size(), 1u) << Warnings(r);
  ExpectBox(r.boxes[0], "", {500, 332, 1, 333});
  // x by width, y by height (a square image would hide a swap).
  const GroundingResult w = ParseGrounding("<|det|>[[999, 999, 999, 999]]<|/det|>", 17, 23);
  ASSERT_EQ(w.boxes.size(), 1u);
  ExpectBox(w.boxes[0], "", {17, 23, 17, 23});
  // Python float arithmetic, not exact integers: 63/999*111 = 6.999999999999999 -> 6 (exactly 7),
  // and 63/999*999 = 62.99999999999999 -> 62.
  const GroundingResult t = ParseGrounding("<|det|>[[63, 63, 0, 0]]<|/det|>", 111, 999);
  ASSERT_EQ(t.boxes.size(), 1u);
  ExpectBox(t.boxes[0], "", {6, 62, 0, 0});
}

TEST(Grounding, SeveralRefsInProse) {
  const std::string text =
      "There is <|ref|>a cat<|/ref|><|det|>[[10, 20, 30, 40]]<|/det|> next to "
      "<|ref|>a dog<|/ref|><|det|>[[50,60,70,80]]<|/det|>.";
  const GroundingResult r = ParseGrounding(text, 999, 999);
  EXPECT_TRUE(r.warnings.empty()) << Warnings(r);
  ASSERT_EQ(r.boxes.size(), 2u);
  ExpectBox(r.boxes[0], "a cat", {10, 20, 30, 40});
  ExpectBox(r.boxes[1], "a dog", {50, 60, 70, 80});
}

TEST(Grounding, DetWithoutRefHasAnEmptyLabel) {
  const GroundingResult r = ParseGrounding("<|det|>[[1, 2, 3, 4]]<|/det|>", 999, 999);
  EXPECT_TRUE(r.warnings.empty()) << Warnings(r);
  ASSERT_EQ(r.boxes.size(), 1u);
  ExpectBox(r.boxes[0], "", {1, 2, 3, 4});
}

TEST(Grounding, RefWithoutDetWarns) {
  const GroundingResult r =
      ParseGrounding("<|ref|>lost<|/ref|> and <|ref|>found<|/ref|><|det|>[[1,2,3,4]]<|/det|><|ref|>end<|/ref|>", 999,
                     999);
  ASSERT_EQ(r.boxes.size(), 1u);
  EXPECT_EQ(r.boxes[0].label, "found");
  EXPECT_TRUE(AnyWarningContains(r, "lost")) << Warnings(r);
  EXPECT_TRUE(AnyWarningContains(r, "end")) << Warnings(r);
}

TEST(Grounding, NoGroundingNoBoxesNoWarnings) {
  const GroundingResult r = ParseGrounding("A plain answer with [1, 2, 3, 4] in it.", 640, 480);
  EXPECT_TRUE(r.boxes.empty());
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_TRUE(ParseGrounding("", 640, 480).boxes.empty());
}

TEST(Grounding, MalformedBoxesAreSkippedWithWarnings) {
  struct Case {
    std::string det;        // the <|det|> body
    size_t good;            // boxes that still parse
    std::string warning;    // a part of the expected warning
  };
  const std::vector<Case> cases = {
      {"[[1, 2, 3]]", 0, "4 integers"},                         // odd count
      {"[[1, 2, 3, 4, 5]]", 0, "4 integers"},                   // too many
      {"[[1, 2, 9999, 4]]", 0, "above 999"},                    // out of range
      {"[[1, 2, 3, 4], [5, 6, 7]]", 1, "4 integers"},           // one good, one bad
      {"[[a, b, c, d]]", 0, "4 integers"},                      // not numbers
      {"[[-1, 2, 3, 4]]", 0, "4 integers"},                     // negative
      {"[1, 2, 3, 4]", 0, "no valid box"},                      // missing outer brackets (as parse_ref_bbox)
      {"", 0, "no valid box"},                                  // empty
      {"[[1, 2, 3, 4", 0, "4 integers"},                        // missing closing brackets
  };
  for (const Case& c : cases) {
    GroundingResult r;
    EXPECT_NO_THROW(r = ParseGrounding("<|ref|>x<|/ref|><|det|>" + c.det + "<|/det|>", 640, 480)) << c.det;
    EXPECT_EQ(r.boxes.size(), c.good) << c.det;
    EXPECT_TRUE(AnyWarningContains(r, c.warning)) << c.det << " -> " << Warnings(r);
  }
}

TEST(Grounding, UnterminatedTagsWarnAndKeepEarlierBoxes) {
  const GroundingResult det =
      ParseGrounding("<|ref|>a<|/ref|><|det|>[[1,2,3,4]]<|/det|><|ref|>b<|/ref|><|det|>[[5,6,7,8]]", 999, 999);
  ASSERT_EQ(det.boxes.size(), 1u);
  EXPECT_EQ(det.boxes[0].label, "a");
  EXPECT_TRUE(AnyWarningContains(det, "unterminated <|det|>")) << Warnings(det);
  const GroundingResult ref = ParseGrounding("<|ref|>never closed <|det|>[[1,2,3,4]]<|/det|>", 999, 999);
  EXPECT_TRUE(AnyWarningContains(ref, "unterminated <|ref|>")) << Warnings(ref);
  EXPECT_TRUE(ref.boxes.empty());
}

TEST(Grounding, ReversedCornersAreKeptWithAWarning) {
  const GroundingResult r = ParseGrounding("<|ref|>r<|/ref|><|det|>[[300, 400, 100, 200]]<|/det|>", 999, 999);
  ASSERT_EQ(r.boxes.size(), 1u);
  ExpectBox(r.boxes[0], "r", {300, 400, 100, 200});
  EXPECT_TRUE(AnyWarningContains(r, "x2 < x1")) << Warnings(r);
}

TEST(Grounding, HugeNumbersDoNotOverflow) {
  const GroundingResult r =
      ParseGrounding("<|det|>[[99999999999999999999999999, 1, 2, 3], [4, 5, 6, 7]]<|/det|>", 640, 480);
  ASSERT_EQ(r.boxes.size(), 1u);
  EXPECT_EQ(r.boxes[0].norm[0], 4);
  EXPECT_TRUE(AnyWarningContains(r, "above 999")) << Warnings(r);
}

}  // namespace
}  // namespace dsvl
