// ModelOptions::limits (dsvl::InputLimits): images per conversation are counted before any image is
// decoded, image pixels and bytes are bounded per image, the tokenizer limits reach the loader, and
// the prompt is bounded by the context. Each refusal is kLimitExceeded naming the limit and value.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "dsvl/dsvl.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

std::string Vl2Tiny() { return (fs::path(DSVL_TEST_DATA_DIR) / "fixtures" / "vl2_tiny" / "ckpt").string(); }
std::string Image(const char* name) { return (fs::path(DSVL_TEST_DATA_DIR) / "fixtures" / "images" / name).string(); }

std::unique_ptr<Session> NewSession(const InputLimits& limits, int64_t max_context = 0) {
  ModelOptions options;
  options.dir = Vl2Tiny();
  options.threads = 1;
  options.limits = limits;
  options.max_context = max_context;
  std::shared_ptr<Model> model;
  const Status s = Model::Load(options, &model);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return nullptr;
  std::unique_ptr<Session> session;
  EXPECT_TRUE(Session::Create(model, &session).ok());
  return session;
}

GenerateRequest OneTurn(std::vector<ImageInput> images, std::string text = "<image>\nDescribe.") {
  GenerateRequest r;
  r.messages.push_back(Message{"user", std::move(text), std::move(images)});
  r.max_new_tokens = 1;
  r.use_default_system = false;
  return r;
}

TEST(InputLimits, ImagesAreCountedBeforeAnyIsDecoded) {
  InputLimits limits;
  limits.max_images = 2;
  auto session = NewSession(limits);
  ASSERT_TRUE(session);
  // Paths that do not exist: decoding any of them would be kNotFound, so kLimitExceeded shows the
  // count was checked first.
  GenerateRequest r = OneTurn({ImageInput::FromPath("/nonexistent/1.png"), ImageInput::FromPath("/nonexistent/2.png"),
                               ImageInput::FromPath("/nonexistent/3.png")},
                              "<image><image><image>\nCompare.");
  GenerateResult res;
  const Status s = session->Generate(r, &res);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded) << s.ToString();
  EXPECT_EQ(s.message(), "request: images: expected at most 2 in the conversation (InputLimits::max_images), got 3");
}

TEST(InputLimits, ImagePixelsAndBytesComeFromModelOptions) {
  InputLimits limits;
  limits.max_image_pixels = 1000;
  auto session = NewSession(limits);
  ASSERT_TRUE(session);
  GenerateResult res;
  Status s = session->Generate(OneTurn({ImageInput::FromPath(Image("D_17x23.png"))}), &res);
  EXPECT_TRUE(s.ok()) << s.ToString();  // 391 pixels
  s = session->Generate(OneTurn({ImageInput::FromPath(Image("A_640x480.jpg"))}), &res);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded) << s.ToString();
  EXPECT_NE(s.message().find("image size: expected at most 1000 pixels, got 640x480"), std::string::npos)
      << s.message();

  limits = InputLimits();
  limits.max_image_file_bytes = 100;
  session = NewSession(limits);
  ASSERT_TRUE(session);
  s = session->Generate(OneTurn({ImageInput::FromPath(Image("D_17x23.png"))}), &res);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded) << s.ToString();
  EXPECT_NE(s.message().find("file size: expected at most 100 bytes"), std::string::npos) << s.message();
}

TEST(InputLimits, TokenizerLimitsReachTheLoader) {
  ModelOptions options;
  options.dir = Vl2Tiny();
  options.threads = 1;
  options.limits.max_tokenizer_file_bytes = 1000;
  std::shared_ptr<Model> model;
  Status s = Model::Load(options, &model);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded) << s.ToString();
  EXPECT_NE(s.message().find("tokenizer.json: file size: expected <= 1000"), std::string::npos) << s.message();
  options.limits = InputLimits();
  options.limits.max_vocab_size = 100;
  s = Model::Load(options, &model);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded) << s.ToString();
  EXPECT_NE(s.message().find("(TokenizerLimits::max_vocab_size"), std::string::npos) << s.message();
  options.limits.max_vocab_size = 0;
  s = Model::Load(options, &model);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), "ModelOptions: limits.max_vocab_size: expected > 0, got 0");
}

TEST(InputLimits, PromptIsBoundedByTheContext) {
  auto session = NewSession(InputLimits(), /*max_context=*/64);
  ASSERT_TRUE(session);
  GenerateResult res;
  const Status s = session->Generate(OneTurn({}, std::string(2000, 'a') + " b c d e f g h"), &res);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded) << s.ToString();
  EXPECT_NE(s.message().find("request: prompt tokens: expected < 64 (context size)"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace dsvl
