// InspectModel on the fixture checkpoints (no problems) and on a broken copy (one tensor dropped,
// one renamed, one re-shaped), which must list exactly those tensors.
#include "model/inspect.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "dsvl/error.h"
#include "io/safetensors.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

fs::path Fixture(const std::string& family, const std::string& ckpt = "ckpt") {
  return fs::path(DSVL_TEST_DATA_DIR) / "fixtures" / family / ckpt;
}

TEST(Inspect, FixtureCheckpointsHaveNoProblems) {
  for (const char* family : {"v1_hybrid", "v1_siglip", "vl2_tiny", "vl2_small", "vl2_base"}) {
    for (const char* ckpt : {"ckpt", "ckpt-bf16"}) {
      const InspectReport r = InspectModel(Fixture(family, ckpt).string());
      EXPECT_TRUE(r.ok()) << family << "/" << ckpt << "\n" << FormatInspectReport(r);
      EXPECT_EQ(r.checkpoint_params, r.params.total) << family;
      ASSERT_EQ(r.dtypes.size(), 1u) << family;
      EXPECT_EQ(r.dtypes.begin()->first, std::string(ckpt) == "ckpt" ? "F32" : "BF16");
      EXPECT_EQ(r.file_bytes, fs::file_size(Fixture(family, ckpt) / "model.safetensors"));
      const auto j = InspectReportJson(r);
      EXPECT_TRUE(j["ok"].get<bool>());
      EXPECT_TRUE(j["problems"].empty());
    }
  }
}

TEST(Inspect, ReportDescribesArchitecture) {
  const InspectReport base = InspectModel(Fixture("vl2_base").string());
  const auto j = InspectReportJson(base);
  EXPECT_EQ(j["family"], "deepseek-vl2");
  EXPECT_EQ(j["language"]["attention"], "MLA");
  EXPECT_EQ(j["language"]["q_lora_rank"], 48);
  EXPECT_EQ(j["language"]["kv_lora_rank"], 32);
  EXPECT_EQ(j["language"]["moe"]["routed_experts"], 16);
  EXPECT_EQ(j["language"]["moe"]["experts_per_token"], 4);
  EXPECT_EQ(j["language"]["moe"]["gate_scoring"], "sigmoid");
  EXPECT_EQ(j["language"]["moe"]["topk_method"], "noaux_tc");
  EXPECT_EQ(j["projector"]["type"], "downsample_mlp_gelu");
  EXPECT_LT(j["parameters"]["active_per_token"].get<int64_t>(),
            j["parameters"]["total"].get<int64_t>());
  const std::string text = FormatInspectReport(base);
  EXPECT_NE(text.find("MLA"), std::string::npos) << text;
  EXPECT_NE(text.find("active per token"), std::string::npos) << text;
  EXPECT_NE(text.find("status        OK"), std::string::npos) << text;

  const auto hybrid = InspectReportJson(InspectModel(Fixture("v1_hybrid").string()));
  EXPECT_EQ(hybrid["family"], "deepseek-vl");
  EXPECT_EQ(hybrid["language"]["attention"], "MHA");
  EXPECT_TRUE(hybrid["vision"].contains("sam"));
  EXPECT_TRUE(hybrid["vision"].contains("siglip"));
  EXPECT_EQ(hybrid["parameters"]["active_per_token"], hybrid["parameters"]["total"]);
}

TEST(Inspect, BrokenCopyListsEachProblem) {
  const fs::path dir =
      fs::temp_directory_path() / ("dsvl_inspect_broken_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path src = Fixture("v1_hybrid");
  for (const char* f : {"config.json", "preprocessor_config.json", "processor_config.json",
                        "tiny_arch.json", "tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(src / f, dir / f);
  }
  const std::string dropped = "language_model.model.layers.1.mlp.up_proj.weight";
  const std::string renamed_from = "aligner.layers.1.weight";
  const std::string renamed_to = "aligner.layers.3.weight";
  const std::string reshaped = "language_model.model.layers.0.self_attn.q_proj.weight";  // [64, 64]
  {
    auto weights = WeightStore::Open(src.string());
    std::vector<TensorToWrite> out;
    for (const auto& [name, w] : weights->tensors()) {
      if (name == dropped) continue;
      if (name == renamed_from) {
        out.push_back({renamed_to, w.view});
      } else if (name == reshaped) {
        out.push_back({name, TensorView(w.view.dtype, {63, 64}, w.view.data)});  // first 63 rows
      } else {
        out.push_back({name, w.view});
      }
    }
    WriteSafetensors((dir / "model.safetensors").string(), out);
  }
  const InspectReport r = InspectModel(dir.string());
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.problems.size(), 4u) << FormatInspectReport(r);
  using K = TensorProblem::Kind;
  EXPECT_EQ(r.problems[0].kind, K::kMissing);
  EXPECT_EQ(r.problems[0].name, renamed_from);
  EXPECT_EQ(r.problems[0].expected, (Shape{64, 64}));
  EXPECT_EQ(r.problems[1].kind, K::kMissing);
  EXPECT_EQ(r.problems[1].name, dropped);
  EXPECT_EQ(r.problems[1].expected, (Shape{160, 64}));
  EXPECT_EQ(r.problems[2].kind, K::kUnexpected);
  EXPECT_EQ(r.problems[2].name, renamed_to);
  EXPECT_EQ(r.problems[2].actual, (Shape{64, 64}));
  EXPECT_EQ(r.problems[3].kind, K::kWrongShape);
  EXPECT_EQ(r.problems[3].name, reshaped);
  EXPECT_EQ(r.problems[3].expected, (Shape{64, 64}));
  EXPECT_EQ(r.problems[3].actual, (Shape{63, 64}));

  const std::string text = FormatInspectReport(r);
  EXPECT_NE(text.find("missing     " + dropped + " [160, 64]"), std::string::npos) << text;
  EXPECT_NE(text.find("unexpected  " + renamed_to), std::string::npos) << text;
  EXPECT_NE(text.find("wrong shape " + reshaped + ": expected [64, 64], got [63, 64]"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("PROBLEMS FOUND"), std::string::npos) << text;
  const auto j = InspectReportJson(r);
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_EQ(j["problems"].size(), 4u);
  EXPECT_EQ(j["problems"][3]["kind"], "wrong_shape");
  fs::remove_all(dir);
}

TEST(Inspect, NotADirectoryIsAnError) {
  EXPECT_THROW(InspectModel("/nonexistent/dsvl/model"), Error);
}

}  // namespace
}  // namespace dsvl
