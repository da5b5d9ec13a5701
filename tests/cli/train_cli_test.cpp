// `dsvl train` through the binary on the v1_siglip fixture checkpoint and the training fixtures'
// data.jsonl (real image decoding, preprocessing and tokenisation on the way): the losses it prints
// before and after AdamW steps are the official run's (case.json losses_by_step), the directory it
// writes loads in `dsvl run` and in training again (its tensors are the updated ones), and misuse
// exits with status 1 and a message naming the problem.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "io/image_encode.h"
#include "run_dsvl.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

using Result = test::DsvlResult;
using test::ReadFile;

const std::string kFixtures = std::string(DSVL_TEST_DATA_DIR) + "/fixtures";
const std::string kV1 = kFixtures + "/v1_siglip/ckpt";
const std::string kData = kFixtures + "/training/data.jsonl";
const std::string kImages = kFixtures + "/images";

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsvl_train_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result Dsvl(const std::string& args) { return test::RunDsvl(dir_, args); }

  fs::path dir_;
};

// "eval after step K: loss X" lines, in order.
std::vector<double> EvalLosses(const std::string& out) {
  std::vector<double> v;
  const std::regex re(R"(eval after step \d+: loss ([0-9.]+))");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it)
    v.push_back(std::stod((*it)[1]));
  return v;
}

nlohmann::json Case(const std::string& stage, const std::string& family = "v1_siglip") {
  std::ifstream f(kFixtures + "/training/" + family + "/" + stage + "/case.json");
  return nlohmann::json::parse(f);
}

// The same bound as tests/train (5x the official run's 1-vs-2-thread loss noise of 1.9e-6); the
// printed 6 decimals add at most 5e-7.
constexpr double kPrinted = 1e-5;

TEST_F(TrainCli, AlignThreeStepsGivesTheOfficialLossesAndALoadableModel) {
  const std::string out = (dir_ / "aligned").string();
  const Result r = Dsvl("train -m " + kV1 + " --data " + kData + " --images " + kImages +
                        " --stage align --steps 3 --eval-every 1 -t 2 --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<double> losses = EvalLosses(r.out);
  const nlohmann::json c = Case("align");
  ASSERT_EQ(losses.size(), 4u) << r.out;
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(losses[k], c["losses_by_step"][k].get<double>(), kPrinted) << k;
  EXPECT_NE(r.out.find("4 tensors (15552 parameters) trainable"), std::string::npos) << r.out;

  // The saved directory runs, and training from it starts at the loss the first run ended with.
  const Result run = Dsvl("run -m " + out + " --image " + kImages + "/D_17x23.png -p 'What is in this image?' -n 3");
  EXPECT_EQ(run.status, 0) << run.err;
  const Result again = Dsvl("train -m " + out + " --data " + kData + " --images " + kImages +
                            " --stage align --steps 0 --out " + (dir_ / "again").string());
  ASSERT_EQ(again.status, 0) << again.err;
  const std::vector<double> resumed = EvalLosses(again.out);
  ASSERT_FALSE(resumed.empty());
  EXPECT_NEAR(resumed[0], losses[3], 2e-6);
}

TEST_F(TrainCli, SftTrainsEverythingAndMatchesTheOfficialStep) {
  const Result r = Dsvl("train -m " + kV1 + " --data " + kData + " --images " + kImages +
                        " --stage sft --steps 1 -t 2 --out " + (dir_ / "sft").string());
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json c = Case("sft");
  const std::vector<double> losses = EvalLosses(r.out);
  ASSERT_EQ(losses.size(), 2u) << r.out;
  EXPECT_NEAR(losses[0], c["losses_by_step"][0].get<double>(), kPrinted);
  EXPECT_NEAR(losses[1], c["losses_by_step"][1].get<double>(), kPrinted);
  // Every tensor with a gradient in the official run: 79 minus the 13 attention-pool tensors.
  EXPECT_NE(r.out.find("66 tensors"), std::string::npos) << r.out;
}

// DeepSeek-VL2: tiling, the SO400M tower, the downsample projector, the tile layout and the MoE
// language model with its auxiliary loss in the gradients (the official train() path).
TEST_F(TrainCli, Vl2AlignStepGivesTheOfficialLosses) {
  const Result r = Dsvl("train -m " + kFixtures + "/vl2_tiny/ckpt --data " + kData + " --images " + kImages +
                        " --stage align --steps 1 -t 2 --out " + (dir_ / "vl2").string());
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json c = Case("align", "vl2_tiny");
  const std::vector<double> losses = EvalLosses(r.out);
  ASSERT_EQ(losses.size(), 2u) << r.out;
  EXPECT_NEAR(losses[0], c["losses_by_step"][0].get<double>(), kPrinted);
  EXPECT_NEAR(losses[1], c["losses_by_step"][1].get<double>(), kPrinted);
  // vision + projector + image_newline + view_seperator with gradients (attn_pool excluded).
  EXPECT_NE(r.out.find("35 tensors"), std::string::npos) << r.out;
}

// One conversation per step, drawn from the shuffled data and (at ratio 0.5) a text-only file: the
// resumed run must also continue the data walk (the shuffled orders, cursors and draws) to give the
// uninterrupted run's weights. (With seed 1, a resumed run that restarted the walk would draw other
// conversations in steps 2-3 and write other weights: checked.)
TEST_F(TrainCli, ResumedRunWritesTheSameWeightsAsAnUninterruptedOne) {
  const fs::path text = dir_ / "text.jsonl";
  std::ofstream(text) << R"({"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]})"
                      << "\n";
  const std::string common = " --data " + kData + " --images " + kImages + " --stage align -t 2 --batch 1" +
                             " --text-data " + text.string() + " --text-ratio 0.5 --seed 1";
  const std::string straight = (dir_ / "straight").string(), first = (dir_ / "first").string(),
                    resumed = (dir_ / "resumed").string();
  ASSERT_EQ(Dsvl("train -m " + kV1 + common + " --steps 3 --out " + straight).status, 0);
  ASSERT_EQ(Dsvl("train -m " + kV1 + common + " --steps 1 --out " + first).status, 0);
  const Result r = Dsvl("train -m " + first + " --resume" + common + " --steps 2 --out " + resumed);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("resuming after step 1"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("note:"), std::string::npos) << r.out;  // the saved data walk fits
  EXPECT_EQ(ReadFile(straight + "/model.safetensors"), ReadFile(resumed + "/model.safetensors"));
  EXPECT_EQ(ReadFile(straight + "/optimizer/state.safetensors"), ReadFile(resumed + "/optimizer/state.safetensors"));
  // Without --resume the same start is a fresh run: other moments, other weights.
  ASSERT_EQ(Dsvl("train -m " + first + common + " --steps 1 --out " + (dir_ / "fresh").string()).status, 0);
  EXPECT_NE(ReadFile(straight + "/model.safetensors"), ReadFile((dir_ / "fresh").string() + "/model.safetensors"));
  // Other data: the moments continue, the walk cannot, and the run says so.
  const fs::path one = dir_ / "one.jsonl";
  {
    std::ifstream in(kData);
    std::string line;
    std::getline(in, line);
    std::ofstream(one) << line << "\n";
  }
  const Result other = Dsvl("train -m " + first + " --resume --data " + one.string() + " --images " + kImages +
                            " --stage align -t 2 --steps 1 --out " + (dir_ / "other").string());
  ASSERT_EQ(other.status, 0) << other.err;
  EXPECT_NE(other.out.find("note: the saved data order does not fit"), std::string::npos) << other.out;
  // A different stage cannot resume these moments.
  const Result bad = Dsvl("train -m " + first + " --resume --data " + kData + " --images " + kImages +
                          " --stage pretrain --out " + (dir_ / "bad").string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("stage"), std::string::npos) << bad.err;
}

TEST_F(TrainCli, TextMixtureAndHeldOutEval) {
  const fs::path text = dir_ / "text.jsonl", held = dir_ / "held.jsonl";
  std::ofstream(text) << R"({"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]})"
                      << "\n";
  {
    std::ifstream in(kData);
    std::string first_line;
    std::getline(in, first_line);
    std::ofstream(held) << first_line << "\n";
  }
  const Result r = Dsvl("train -m " + kV1 + " --data " + kData + " --images " + kImages + " --stage pretrain" +
                        " --text-data " + text.string() + " --text-ratio 0.5 --batch 4 --steps 2 --eval-data " +
                        held.string() + " -t 2 --out " + (dir_ / "mixed").string());
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<double> losses = EvalLosses(r.out);
  ASSERT_EQ(losses.size(), 2u) << r.out;
  // The held-out set is example 0 alone: its loss at the checkpoint is its official CE sum / 10.
  const nlohmann::json c = Case("align");
  EXPECT_NEAR(losses[0], c["per_step_detail"][0]["ce_sums"][0].get<double>() / 10.0, kPrinted);
  EXPECT_LT(losses[1], losses[0]);
  // Both sources were drawn (8 seeded draws at ratio 0.5): an image conversation is >= 702 tokens, the
  // text one < 100, so the steps' token total tells how many of each ran.
  int64_t total = 0;
  const std::regex tokens_re(R"(step \d+: loss [0-9.]+ .* (\d+) tokens)");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), tokens_re); it != std::sregex_iterator(); ++it)
    total += std::stoll((*it)[1]);
  const int64_t image_convs = total / 702;
  EXPECT_GT(image_convs, 0) << r.out;
  EXPECT_LT(image_convs, 8) << r.out;
  // Text data must be text.
  const Result bad = Dsvl("train -m " + kV1 + " --data " + kData + " --images " + kImages + " --text-data " + kData +
                          " --text-ratio 0.5 --out " + (dir_ / "bad").string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("text only"), std::string::npos) << bad.err;
}

// Learning, not just matching: the random tiny model cannot name an image's colour; after a few
// pretrain steps (aligner + LLM) on two images per colour its greedy answers on held-out images (other
// sizes and shades) are right, and the align stage alone (the aligner's 15k parameters) moves the
// held-out loss down too.
TEST_F(TrainCli, LearnsToNameColoursOfHeldOutImages) {
  struct Colour {
    const char* name;
    uint8_t r, g, b;
  };
  const Colour colours[] = {{"Red", 220, 30, 30}, {"Green", 30, 200, 40}, {"Blue", 30, 40, 220}};
  auto write_image = [&](const std::string& file, int64_t w, int64_t h, const Colour& c, int shade) {
    RgbImage img;
    img.width = w;
    img.height = h;
    img.pixels.resize(static_cast<size_t>(w * h * 3));
    for (int64_t i = 0; i < w * h; ++i) {
      img.pixels[static_cast<size_t>(3 * i)] = static_cast<uint8_t>(std::min(255, c.r + shade));
      img.pixels[static_cast<size_t>(3 * i + 1)] = static_cast<uint8_t>(std::min(255, c.g + shade));
      img.pixels[static_cast<size_t>(3 * i + 2)] = static_cast<uint8_t>(std::min(255, c.b + shade));
    }
    WritePng((dir_ / file).string(), img);
  };
  auto line = [](const std::string& image, const std::string& answer) {
    return nlohmann::json{{"messages", {{{"role", "user"}, {"content", "<image>\nWhat colour is this?"}, {"images", {image}}},
                                        {{"role", "assistant"}, {"content", answer}}}}}.dump() + "\n";
  };
  std::ofstream train(dir_ / "train.jsonl"), held(dir_ / "held.jsonl");
  for (const Colour& c : colours) {
    const std::string n = c.name;
    write_image(n + "0.png", 32, 32, c, 0);
    write_image(n + "1.png", 48, 24, c, 0);
    write_image(n + "_held.png", 40, 30, c, 20);
    train << line(n + "0.png", n + ".") << line(n + "1.png", n + ".");
    held << line(n + "_held.png", n + ".");
  }
  train.close();
  held.close();
  const std::string common = " --data " + (dir_ / "train.jsonl").string() + " --eval-data " + (dir_ / "held.jsonl").string() +
                             " --lr 3e-3 -t 2";
  const std::string out = (dir_ / "learned").string();
  const Result r = Dsvl("train -m " + kV1 + common + " --stage pretrain --steps 8 --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<double> losses = EvalLosses(r.out);
  ASSERT_EQ(losses.size(), 2u) << r.out;
  EXPECT_LT(losses[1], 0.05 * losses[0]) << r.out;
  for (const Colour& c : colours) {
    const std::string image = (dir_ / (std::string(c.name) + "_held.png")).string();
    const Result before = Dsvl("run -m " + kV1 + " --image " + image + " -p 'What colour is this?' -n 8");
    const Result after = Dsvl("run -m " + out + " --image " + image + " -p 'What colour is this?' -n 8");
    ASSERT_EQ(after.status, 0) << after.err;
    EXPECT_EQ(before.out.find(c.name), std::string::npos) << before.out;
    EXPECT_EQ(after.out.rfind(std::string(" ") + c.name, 0), 0u) << c.name << ": " << after.out;
    for (const Colour& other : colours) {
      if (&other != &c) {
        EXPECT_EQ(after.out.find(other.name), std::string::npos) << c.name << ": " << after.out;
      }
    }
  }
  const Result aligned = Dsvl("train -m " + kV1 + common + " --stage align --steps 8 --out " + (dir_ / "aligned").string());
  ASSERT_EQ(aligned.status, 0) << aligned.err;
  const std::vector<double> align_losses = EvalLosses(aligned.out);
  ASSERT_EQ(align_losses.size(), 2u) << aligned.out;
  EXPECT_LT(align_losses[1], 0.8 * align_losses[0]) << aligned.out;
}

TEST_F(TrainCli, MisuseIsAnErrorNamingTheProblem) {
  const std::string out = " --out " + (dir_ / "x").string();
  Result r = Dsvl("train -m " + kV1 + " --data " + kData + " --images " + kImages + " --stage warmup" + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--stage"), std::string::npos) << r.err;
  r = Dsvl("train -m " + kFixtures + "/v1_hybrid/ckpt --data " + kData + " --images " + kImages + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not implemented yet"), std::string::npos) << r.err;
  r = Dsvl("train -m " + kV1 + " --data " + (dir_ / "missing.jsonl").string() + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
  r = Dsvl("train -m " + kV1 + " --data " + kData + " --images " + kImages + " --out " + kV1);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dsvl
