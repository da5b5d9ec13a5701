// SessionImpl::CopyStateFrom (the server's n > 1 choices): a session that copies another's state
// right after its prompt is prefilled finds the whole prompt cached (images included, nothing
// encoded again) and samples exactly what the source session itself samples next for that prompt.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "dsvl/dsvl.h"
#include "model/engine.h"
#include "npy.h"

namespace dsvl {
namespace {

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

TEST(SessionCopy, CopiedPromptStateSamplesAsTheSourceWould) {
  ModelOptions options;
  options.dir = test::FixtureDir() + "/vl2_tiny/ckpt";
  options.threads = 1;
  std::shared_ptr<Model> model;
  ASSERT_TRUE(Model::Load(options, &model).ok());
  SessionImpl source(model), copy(model);

  const std::vector<uint8_t> bytes = ReadBytes(test::FixtureDir() + "/images/A_640x480.jpg");
  ASSERT_FALSE(bytes.empty());
  GenerateRequest req;
  req.replace_history = true;
  req.messages = {Message{"user", "<image>\nDescribe this image.", {ImageInput{"a.jpg", bytes}}}};
  req.max_new_tokens = 8;
  req.ignore_eos = true;
  req.sampling.temperature = 1.0f;
  req.sampling.seed = 11;

  GenerateResult first;
  int copies = 0;
  source.Generate(req, first, {}, [&] {
    copy.CopyStateFrom(source);
    ++copies;
  });
  ASSERT_EQ(copies, 1);
  EXPECT_EQ(first.images_encoded, 1);

  // The copy continues from the prompt: only its last position is computed again.
  req.sampling.seed = 12;
  GenerateResult copied;
  copy.Generate(req, copied, {});
  EXPECT_EQ(copied.cached_tokens, copied.prompt_tokens - 1);
  EXPECT_GT(copied.cached_tokens, 1023);  // the 2x2-tiled image's positions among them
  EXPECT_EQ(copied.images_encoded, 0);
  EXPECT_EQ(copied.ids.size(), 8u);

  // The source's own next sample of the same prompt (the sequential n = 2) is the same text.
  GenerateResult again;
  source.Generate(req, again, {});
  EXPECT_EQ(again.cached_tokens, copied.cached_tokens);
  EXPECT_EQ(again.ids, copied.ids);
  EXPECT_EQ(again.text, copied.text);
  EXPECT_NE(first.ids, copied.ids);  // another seed: another answer, so equality above means something

  // A copy after a finished turn carries the history too.
  SessionImpl later(model);
  later.CopyStateFrom(source);
  EXPECT_EQ(later.history().size(), source.history().size());
  EXPECT_EQ(later.history().back().text, again.text);
}

}  // namespace
}  // namespace dsvl
