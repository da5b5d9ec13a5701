// End to end through the public runtime API (Model + Session), on every oracle case: the case's
// prompt ids and images go in exactly as the official processor got them, and the processor's
// expanded ids and the official greedy tokens must come out.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsvl/dsvl.h"
#include "model/engine.h"
#include "npy.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct OracleCase {
  std::string family, dtype, name;
  std::string label() const { return family + "_" + dtype + "_" + name; }
  fs::path dir() const { return fs::path(test::FixtureDir()) / family / dtype / name; }
  fs::path ckpt() const { return fs::path(test::FixtureDir()) / family / (dtype == "fp32" ? "ckpt" : "ckpt-bf16"); }
};

std::vector<OracleCase> AllCases() {
  std::vector<OracleCase> out;
  for (const char* family : {"v1_hybrid", "v1_siglip", "vl2_tiny", "vl2_small", "vl2_base"}) {
    for (const char* dtype : {"fp32", "bf16"}) {
      const fs::path d = fs::path(test::FixtureDir()) / family / dtype;
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator(d)) {
        if (e.is_directory() && fs::exists(e.path() / "case.json")) names.push_back(e.path().filename().string());
      }
      std::sort(names.begin(), names.end());
      for (const auto& n : names) out.push_back({family, dtype, n});
    }
  }
  return out;
}

json ReadJson(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

// Greedy ids are compared up to the first step whose official top1-top2 margin is within our
// numerical error: after a near-tie the two implementations may legitimately pick different tokens
// and every later token depends on that choice. At that step our pick must still be one of the
// official near-tied candidates. fp32: our logits match the oracle to ~1e-5, so a
// margin of 1e-3 is decisive. bf16: the oracle rounds every op to bf16 while dsvl computes in f32
// over the same bf16 weights; the logit differences measured on these fixtures are up to ~0.1, so
// only margins above 0.25 are decisive.
double DecisiveMargin(const std::string& dtype) { return dtype == "fp32" ? 1e-3 : 0.25; }

class EngineE2e : public ::testing::TestWithParam<OracleCase> {};

TEST_P(EngineE2e, PromptIdsReproduceProcessorAndGreedyTokens) {
  const OracleCase& c = GetParam();
  const json cj = ReadJson(c.dir() / "case.json");

  ModelOptions mo;
  mo.dir = c.ckpt().string();
  mo.threads = 2;
  std::shared_ptr<Model> model;
  Status s = Model::Load(mo, &model);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const ModelInfo& info = model->info();
  ASSERT_GE(info.bos_id, 0);
  ASSERT_GE(info.image_token_id, 0);

  GenerateRequest req;
  req.prompt_ids.push_back(info.bos_id);  // the processor prepends BOS
  for (const auto& item : cj.at("prompt_spec")) {
    req.prompt_ids.push_back(item.is_string() ? info.image_token_id : item.get<int64_t>());
  }
  for (const auto& img : cj.at("images")) {
    req.images.push_back(ImageInput::FromPath((fs::path(test::FixtureDir()) / "images" / img.get<std::string>()).string()));
  }
  req.max_new_tokens = 16;
  req.ignore_eos = true;
  req.prefill_chunk = 300;  // several chunks for the image prompts

  // The expansion must equal the official processor's input_ids.
  SessionImpl probe(model);
  const PreparedPrompt prepared = probe.Prepare(req, nullptr);
  const std::vector<int64_t> want_ids = test::LoadNpy((c.dir() / "input_ids.npy").string()).i64();
  ASSERT_EQ(prepared.expanded.ids, want_ids);
  const std::vector<int64_t> want_mask = test::LoadNpy((c.dir() / "images_seq_mask.npy").string()).i64();
  ASSERT_EQ(prepared.expanded.image_mask.size(), want_mask.size());
  for (size_t i = 0; i < want_mask.size(); ++i) ASSERT_EQ(prepared.expanded.image_mask[i], want_mask[i]) << i;

  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::Create(model, &session).ok());
  GenerateResult res;
  s = session->Generate(req, &res);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(res.prompt_tokens, static_cast<int64_t>(want_ids.size()));
  ASSERT_EQ(res.ids.size(), 16u);

  const json& g = cj.at("greedy");
  const auto want = g.at("ids").get<std::vector<int64_t>>();
  const auto margins = g.at("margins").get<std::vector<double>>();
  size_t decisive = 0;
  while (decisive < want.size() && margins[decisive] > DecisiveMargin(c.dtype)) ++decisive;
  for (size_t i = 0; i < decisive; ++i) EXPECT_EQ(res.ids[i], want[i]) << "step " << i;
  if (decisive == want.size()) return;

  // At the first near-tie the prefix still equals the official one, so the official logits of that
  // step apply: our pick must be one of the tokens within the decisive margin of the official top-1.
  const int64_t vocab = info.vocab_size;
  std::vector<float> official;
  if (decisive == 0) {
    const int64_t last = static_cast<int64_t>(want_ids.size()) - 1;
    if (fs::exists(c.dir() / "prompt_logits.npy")) {
      const std::vector<float> all = test::LoadNpy((c.dir() / "prompt_logits.npy").string()).f32();
      official.assign(all.begin() + last * vocab, all.begin() + (last + 1) * vocab);
    } else {
      const auto pos = test::LoadNpy((c.dir() / "prompt_logits_sel_pos.npy").string()).i64();
      const std::vector<float> sel = test::LoadNpy((c.dir() / "prompt_logits_sel.npy").string()).f32();
      const auto it = std::find(pos.begin(), pos.end(), last);
      ASSERT_NE(it, pos.end()) << "the fixture selects no logits row for the last prompt position";
      const int64_t row = it - pos.begin();
      official.assign(sel.begin() + row * vocab, sel.begin() + (row + 1) * vocab);
    }
  } else {
    const std::vector<float> steps = test::LoadNpy((c.dir() / "greedy_step_logits.npy").string()).f32();
    const int64_t row = static_cast<int64_t>(decisive) - 1;
    official.assign(steps.begin() + row * vocab, steps.begin() + (row + 1) * vocab);
  }
  ASSERT_EQ(static_cast<int64_t>(official.size()), vocab);
  const float top = *std::max_element(official.begin(), official.end());
  const int64_t ours = res.ids[decisive];
  ASSERT_GE(ours, 0);
  ASSERT_LT(ours, vocab);
  EXPECT_GE(official[static_cast<size_t>(ours)], top - DecisiveMargin(c.dtype))
      << "step " << decisive << ": our id " << ours << " is not among the official near-tied top tokens";
}

INSTANTIATE_TEST_SUITE_P(AllCases, EngineE2e, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<OracleCase>& i) { return i.param.label(); });

}  // namespace
}  // namespace dsvl
