// The README's library example, compiled and run as written (on the tiny VL2 fixture checkpoint), so
// the documented API cannot drift from the real one. Also: a chat turn through the public API, with
// the second turn reusing the first turn's KV cache.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "dsvl/dsvl.h"
#include "npy.h"

namespace dsvl {
namespace {

TEST(ApiExample, ReadmeSnippetRuns) {
  const std::string dir = test::FixtureDir() + "/vl2_tiny/ckpt";
  const std::string photo = test::FixtureDir() + "/images/A_640x480.jpg";
  std::string streamed;

  // --- README snippet (paths replaced) ---
  dsvl::ModelOptions options;
  options.dir = dir;
  std::shared_ptr<dsvl::Model> model;
  dsvl::Status s = dsvl::Model::Load(options, &model);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<dsvl::Session> session;
  s = dsvl::Session::Create(model, &session);
  ASSERT_TRUE(s.ok()) << s.ToString();
  dsvl::GenerateRequest req;
  req.messages.push_back({"user", "<image>\nDescribe this image.", {dsvl::ImageInput::FromPath(photo)}});
  req.max_new_tokens = 8;
  dsvl::GenerateResult res;
  s = session->Generate(req, &res, [&](int64_t id, std::string_view piece) {
    streamed.append(piece);
    return true;  // false cancels
  });
  // --- end of snippet ---

  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(res.ids.empty());
  EXPECT_EQ(streamed, res.text);
  EXPECT_GT(res.prompt_tokens, 1023);  // one 2x2-tiled 640x480 image alone is 1023 positions
  ASSERT_EQ(session->history().size(), 2u);

  // A follow-up turn reuses the cached prefix (the whole first turn but the answer's last token).
  dsvl::GenerateRequest next;
  next.messages.push_back({"user", "And the colours?", {}});
  next.max_new_tokens = 4;
  dsvl::GenerateResult res2;
  s = session->Generate(next, &res2);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GT(res2.cached_tokens, res.prompt_tokens);
  EXPECT_EQ(session->history().size(), 4u);
}

TEST(ApiExample, ErrorsAreStatusesNotCrashes) {
  std::shared_ptr<dsvl::Model> model;
  dsvl::ModelOptions options;
  options.dir = "/nonexistent/model";
  dsvl::Status s = dsvl::Model::Load(options, &model);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/model"), std::string::npos) << s.message();

  options.dir = test::FixtureDir() + "/vl2_tiny/ckpt";
  s = dsvl::Model::Load(options, &model);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<dsvl::Session> session;
  ASSERT_TRUE(dsvl::Session::Create(model, &session).ok());
  dsvl::GenerateRequest req;
  req.messages.push_back({"user", "<image>\n<image>\nTwo tags, one image",
                          {dsvl::ImageInput::FromPath(test::FixtureDir() + "/images/D_17x23.png")}});
  dsvl::GenerateResult res;
  s = session->Generate(req, &res);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), dsvl::ErrorCode::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(session->history().empty());  // a failed request leaves the history unchanged

  req.messages[0] = {"user", "<image>\nbad bytes", {dsvl::ImageInput{"inline.png", {0x89, 'P', 'N', 'G', 1, 2}}}};
  s = session->Generate(req, &res);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("inline.png"), std::string::npos) << s.message();

  // A prompt longer than the context is refused with the limit named.
  std::shared_ptr<dsvl::Model> small;
  options.max_context = 64;
  ASSERT_TRUE(dsvl::Model::Load(options, &small).ok());
  std::unique_ptr<dsvl::Session> s2;
  ASSERT_TRUE(dsvl::Session::Create(small, &s2).ok());
  dsvl::GenerateRequest big;
  big.messages.push_back({"user", "<image>\nhi", {dsvl::ImageInput::FromPath(test::FixtureDir() + "/images/A_640x480.jpg")}});
  s = s2->Generate(big, &res);
  EXPECT_EQ(s.code(), dsvl::ErrorCode::kLimitExceeded) << s.ToString();
  EXPECT_NE(s.message().find("context"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace dsvl
