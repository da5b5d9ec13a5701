// Batched decoding on the official-oracle checkpoints of every family (Llama MHA; VL2-tiny MHA + MoE;
// VL2-small MLA + MoE; VL2 MLA with q_lora + noaux_tc MoE), f32 and bf16 weights: three sequences
// made from a fixture case's prompt embeddings (different lengths, admitted at different steps,
// prefilled in chunks among the others' decode rows) decode greedily through ForwardBatch, and every
// sequence's ids and logits must be bitwise those of the same sequence decoded alone.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "greedy_batch.h"
#include "io/safetensors.h"
#include "llm/language_model.h"
#include "model/model_config.h"
#include "npy.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

struct Family {
  std::string name, ckpt;  // ckpt: "ckpt" (f32) or "ckpt-bf16"
};

std::vector<Family> Families() {
  std::vector<Family> v;
  for (const char* f : {"v1_hybrid", "v1_siglip", "vl2_tiny", "vl2_small", "vl2_base"})
    for (const char* c : {"ckpt", "ckpt-bf16"}) v.push_back({f, c});
  return v;
}

// The first case of the family with prompt embeddings (any dtype dir: only the rows are used).
fs::path FirstCase(const fs::path& family_dir) {
  for (const char* dtype : {"fp32", "bf16"}) {
    const fs::path dir = family_dir / dtype;
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && fs::exists(e.path() / "inputs_embeds.npy")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    if (!dirs.empty()) return dirs.front();
  }
  return {};
}

class BatchedFixtureTest : public ::testing::TestWithParam<Family> {};

TEST_P(BatchedFixtureTest, GreedyBatchedEqualsAloneBitwise) {
  const fs::path family_dir = fs::path(test::FixtureDir()) / GetParam().name;
  const fs::path ckpt = family_dir / GetParam().ckpt;
  const fs::path case_dir = FirstCase(family_dir);
  ASSERT_TRUE(fs::is_directory(ckpt)) << ckpt;
  ASSERT_FALSE(case_dir.empty()) << "no case with inputs_embeds.npy under " << family_dir;
  std::unique_ptr<WeightStore> weights = WeightStore::Open(ckpt.string());
  const ModelConfig config = LoadModelConfig(ckpt.string(), *weights);
  std::unique_ptr<LanguageModel> lm = CreateLanguageModel(config.llm, *weights);
  const int64_t H = lm->config().hidden_size;

  const test::NpyArray npy = test::LoadNpy((case_dir / "inputs_embeds.npy").string());
  ASSERT_EQ(npy.shape.size(), 2u);
  ASSERT_EQ(npy.shape[1], H);
  const std::vector<float> rows = npy.f32();
  const int64_t T = npy.shape[0];
  ASSERT_GE(T, 8);
  auto slice = [&](int64_t from, int64_t n) {
    return std::vector<float>(rows.begin() + from * H, rows.begin() + (from + n) * H);
  };
  // The whole prompt, its first 5 rows (a short prompt, admitted later), and rows [2, T) admitted
  // after a few decode steps.
  const std::vector<test::GreedyPrompt> prompts = {{slice(0, T), 0}, {slice(0, 5), 1}, {slice(2, T - 2), 3}};
  const int64_t kNew = 6, kChunk = 7;
  ThreadPool pool(2);
  const std::vector<test::GreedyRun> batched = test::GreedyBatched(pool, *lm, prompts, kNew, kChunk);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const test::GreedyRun alone = test::GreedyAlone(pool, *lm, prompts[i], kNew, kChunk);
    EXPECT_EQ(batched[i].ids, alone.ids) << "sequence " << i;
    ASSERT_EQ(batched[i].logits.size(), alone.logits.size());
    for (size_t t = 0; t < alone.logits.size(); ++t)
      EXPECT_EQ(std::memcmp(batched[i].logits[t].data(), alone.logits[t].data(), alone.logits[t].size() * sizeof(float)),
                0)
          << "sequence " << i << " step " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BatchedFixtureTest, ::testing::ValuesIn(Families()),
                         [](const ::testing::TestParamInfo<Family>& i) {
                           return i.param.name + (i.param.ckpt == "ckpt" ? "_f32" : "_bf16");
                         });

}  // namespace
}  // namespace dsvl
