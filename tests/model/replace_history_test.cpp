// Stateless clients (the OpenAI API) resend the whole conversation every turn. With
// GenerateRequest::replace_history the session's history is replaced, not extended, and the KV
// cache still serves the longest common prefix; images are matched by content hash, so the same
// image bytes in a later request are neither re-encoded nor re-prefilled. The cached answer must
// equal what a fresh session computes for the same conversation.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "dsvl/dsvl.h"
#include "npy.h"

namespace dsvl {
namespace {

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

class ReplaceHistory : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelOptions options;
    options.dir = test::FixtureDir() + "/vl2_tiny/ckpt";
    options.threads = 1;
    ASSERT_TRUE(Model::Load(options, &model_).ok());
  }
  std::unique_ptr<Session> NewSession() {
    std::unique_ptr<Session> s;
    EXPECT_TRUE(Session::Create(model_, &s).ok());
    return s;
  }
  std::shared_ptr<Model> model_;
};

TEST_F(ReplaceHistory, SecondTurnReusesImageAndPrefix) {
  // The same image as bytes in both requests (new ImageInput objects, as a server decodes them).
  const std::vector<uint8_t> bytes = ReadBytes(test::FixtureDir() + "/images/A_640x480.jpg");
  ASSERT_FALSE(bytes.empty());
  auto turn1 = [&] { return Message{"user", "<image>\nDescribe this image.", {ImageInput{"a.jpg", bytes}}}; };

  std::unique_ptr<Session> session = NewSession();
  GenerateRequest r1;
  r1.replace_history = true;
  r1.messages = {turn1()};
  r1.max_new_tokens = 6;
  GenerateResult a1;
  ASSERT_TRUE(session->Generate(r1, &a1).ok());
  EXPECT_EQ(a1.images_encoded, 1);
  EXPECT_EQ(a1.cached_tokens, 0);

  GenerateRequest r2 = r1;
  r2.messages = {turn1(), Message{"assistant", a1.text, {}}, Message{"user", "And the colours?", {}}};
  GenerateResult a2;
  ASSERT_TRUE(session->Generate(r2, &a2).ok());
  EXPECT_EQ(a2.images_encoded, 0);
  EXPECT_GT(a2.cached_tokens, 1023);  // the 2x2-tiled image alone is 1023 positions
  EXPECT_LT(a2.cached_tokens, a2.prompt_tokens);
  // The history is the resent conversation plus the answer, not the two requests appended.
  EXPECT_EQ(session->history().size(), 4u);

  // A fresh session computing the whole second conversation gives the same tokens.
  std::unique_ptr<Session> fresh = NewSession();
  GenerateResult b2;
  ASSERT_TRUE(fresh->Generate(r2, &b2).ok());
  EXPECT_EQ(b2.cached_tokens, 0);
  EXPECT_EQ(b2.images_encoded, 1);
  EXPECT_EQ(a2.ids, b2.ids);
  EXPECT_EQ(a2.prompt_tokens, b2.prompt_tokens);
}

TEST_F(ReplaceHistory, DifferentImageIsEncodedAgain) {
  std::unique_ptr<Session> session = NewSession();
  GenerateRequest r;
  r.replace_history = true;
  r.max_new_tokens = 2;
  r.messages = {Message{"user", "<image>\nWhat is it?", {ImageInput::FromPath(test::FixtureDir() + "/images/A_640x480.jpg")}}};
  GenerateResult a;
  ASSERT_TRUE(session->Generate(r, &a).ok());
  r.messages[0].images = {ImageInput::FromPath(test::FixtureDir() + "/images/C_300x900.jpg")};
  GenerateResult b;
  ASSERT_TRUE(session->Generate(r, &b).ok());
  EXPECT_EQ(b.images_encoded, 1);
  // Only the text before the image can match.
  EXPECT_LT(b.cached_tokens, 20);
  EXPECT_EQ(session->history().size(), 2u);
}

TEST_F(ReplaceHistory, StrictContextRefusesImpossibleBudget) {
  std::unique_ptr<Session> session = NewSession();
  GenerateRequest r;
  r.messages = {Message{"user", "Hello", {}}};
  r.max_new_tokens = model_->info().max_context;
  r.strict_context = true;
  GenerateResult a;
  const Status s = session->Generate(r, &a);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded) << s.ToString();
  r.strict_context = false;
  r.max_new_tokens = 1;
  EXPECT_TRUE(session->Generate(r, &a).ok());
}

}  // namespace
}  // namespace dsvl
