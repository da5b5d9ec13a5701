// Training data formatting against the official processors' ids and labels (training fixtures,
// README §2): the fixture's data.jsonl through ReadTrainingJsonl and FormatTrainingSequence must give
// input_ids.npy, labels.npy and images_seq_mask.npy exactly, for both families.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "model/model_config.h"
#include "npy.h"
#include "text/tokenizer.h"
#include "train/sft_data.h"

namespace dsvl::train {
namespace {

namespace fs = std::filesystem;

void ExpectFixtureSequences(const std::string& family, const std::vector<int64_t>& tokens_per_image) {
  const fs::path ckpt = fs::path(test::FixtureDir()) / family / "ckpt";
  const fs::path training = fs::path(test::FixtureDir()) / "training";
  const auto weights = WeightStore::Open(ckpt.string());
  const ModelConfig config = LoadModelConfig(ckpt.string(), *weights);
  auto tokenizer = Tokenizer::Load(ckpt.string());
  if (config.family == ModelFamily::kDeepSeekVL2) RegisterVl2SpecialTokens(*tokenizer);
  const auto data = ReadTrainingJsonl((training / "data.jsonl").string(), config.family,
                                      (fs::path(test::FixtureDir()) / "images").string());
  ASSERT_EQ(data.size(), 3u);
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_EQ(data[i].image_paths.size(), 1u);
    EXPECT_TRUE(fs::exists(data[i].image_paths[0])) << data[i].image_paths[0];
    const TrainingSequence s = FormatTrainingSequence(config, *tokenizer, data[i].messages, {tokens_per_image[i]});
    const fs::path ex = training / family / "examples" / ("ex" + std::to_string(i));
    const std::vector<int64_t> official = test::LoadNpy((ex / "input_ids.npy").string()).i64();
    size_t first_diff = 0;
    while (first_diff < std::min(official.size(), s.prompt.ids.size()) && official[first_diff] == s.prompt.ids[first_diff])
      ++first_diff;
    if (first_diff < official.size()) {
      std::string ctx;
      for (size_t t = first_diff > 3 ? first_diff - 3 : 0; t < std::min(first_diff + 4, official.size()); ++t)
        ctx += " " + std::to_string(t < s.prompt.ids.size() ? s.prompt.ids[t] : -2) + "/" + std::to_string(official[t]);
      ADD_FAILURE() << "ours/official:" << ctx << " sizes " << s.prompt.ids.size() << "/" << official.size();
    }
    EXPECT_EQ(s.prompt.ids, official) << family << " ex" << i << " first difference at " << first_diff;
    EXPECT_EQ(s.labels, test::LoadNpy((ex / "labels.npy").string()).i64()) << family << " ex" << i;
    const std::vector<int64_t> mask = test::LoadNpy((ex / "images_seq_mask.npy").string()).i64();
    ASSERT_EQ(s.prompt.image_mask.size(), mask.size());
    for (size_t t = 0; t < mask.size(); ++t) EXPECT_EQ(s.prompt.image_mask[t] != 0, mask[t] != 0) << t;
  }
}

TEST(TrainingData, Vl1IdsLabelsAndImageMaskMatchTheOfficialFormatting) {
  ExpectFixtureSequences("v1_siglip", {576, 576, 576});
}

TEST(TrainingData, Vl2IdsLabelsAndImageMaskMatchTheOfficialFormatting) {
  ExpectFixtureSequences("vl2_tiny", {421, 421, 841});
}

TEST(TrainingData, MultiTurnSupervisesEveryAnswerAndNothingElse) {
  const fs::path ckpt = fs::path(test::FixtureDir()) / "v1_siglip" / "ckpt";
  const auto weights = WeightStore::Open(ckpt.string());
  const ModelConfig config = LoadModelConfig(ckpt.string(), *weights);
  auto tokenizer = Tokenizer::Load(ckpt.string());
  const std::vector<ChatMessage> two_turns{{ChatRole::kUser, "Hi", 0}, {ChatRole::kAssistant, "Hello there.", 0},
                                           {ChatRole::kUser, "Bye", 0}, {ChatRole::kAssistant, "Goodbye.", 0}};
  const TrainingSequence s = FormatTrainingSequence(config, *tokenizer, two_turns, {});
  const TrainingSequence first = FormatTrainingSequence(config, *tokenizer, {two_turns[0], two_turns[1]}, {});
  // The first answer is labelled as in the one-turn conversation; the second adds its own tokens.
  int64_t labelled = 0;
  for (size_t t = 0; t < s.labels.size(); ++t) {
    if (s.labels[t] != kIgnoreLabel) {
      EXPECT_EQ(s.labels[t], s.prompt.ids[t]);
      ++labelled;
    }
    if (t < first.labels.size()) {
      EXPECT_EQ(s.labels[t], first.labels[t]) << t;
    }
  }
  EXPECT_EQ(labelled, s.supervised);
  EXPECT_GT(s.supervised, first.supervised);
  EXPECT_EQ(s.labels.back(), tokenizer->eos_id());
}

TEST(TrainingData, BadJsonlIsReportedWithFileAndLine) {
  const fs::path p = fs::temp_directory_path() / "dsvl_bad_training.jsonl";
  {
    std::ofstream f(p);
    f << R"({"messages": [{"role": "user", "content": "hi"}]})" << "\n" << "{not json\n";
  }
  try {
    ReadTrainingJsonl(p.string(), ModelFamily::kDeepSeekVL);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(":2"), std::string::npos) << e.what();
  }
  fs::remove(p);
}

}  // namespace
}  // namespace dsvl::train
