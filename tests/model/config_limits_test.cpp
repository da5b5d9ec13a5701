// Bounded configs (model/config_limits.h, docs/limits.md): every size in the config files is refused
// above its range at once, naming the file, the key, the limit and the value, before anything loops
// over it; every released architecture and fixture stays inside the ranges; a checkpoint whose
// tensors disagree with a valid config is refused naming the tensor and both shapes.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dsvl/dsvl.h"
#include "dsvl/error.h"
#include "error_code.h"
#include "model/arch_presets.h"
#include "model/config_limits.h"
#include "model/inspect.h"
#include "model/model_config.h"
#include "model/tensor_manifest.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::CodeOf;

fs::path Fixture(const std::string& family) {
  return fs::path(DSVL_TEST_DATA_DIR) / "fixtures" / family / "ckpt";
}

json ReadFixtureJson(const std::string& family, const std::string& file) {
  return ReadJsonFile((Fixture(family) / file).string());
}

// Parses a mutated vl2_tiny / v1_hybrid config (without weights, as `dsvl inspect` does first) and
// returns the error code and message.
ErrorCode ParseVl2(const json& config, std::string* what) {
  const json processor = ReadFixtureJson("vl2_tiny", "processor_config.json");
  return CodeOf([&] { ParseModelConfig("tiny/config.json", config, &processor, nullptr, nullptr); }, what);
}

struct Absurd {
  const char* json_pointer;  // key to set, as a JSON pointer into config.json
  int64_t value;
  const char* message;  // exact "file: key: expected ..., got ..." part
};

TEST(ConfigLimits, AbsurdSizesAreRefusedNamingFileKeyLimitAndValue) {
  const json base = ReadFixtureJson("vl2_tiny", "config.json");
  const Absurd cases[] = {
      {"/language_config/num_hidden_layers", 1000000000,
       "tiny/config.json: language_config.num_hidden_layers: expected at most 1024, got 1000000000"},
      {"/language_config/vocab_size", int64_t{1} << 40,
       "tiny/config.json: language_config.vocab_size: expected at most 2097152, got 1099511627776"},
      {"/language_config/hidden_size", 1 << 20,
       "tiny/config.json: language_config.hidden_size: expected at most 65536, got 1048576"},
      {"/language_config/intermediate_size", int64_t{1} << 33,
       "tiny/config.json: language_config.intermediate_size: expected at most 262144, got 8589934592"},
      {"/language_config/num_attention_heads", 100000,
       "tiny/config.json: language_config.num_attention_heads: expected at most 1024, got 100000"},
      {"/language_config/max_position_embeddings", int64_t{1} << 40,
       "tiny/config.json: language_config.max_position_embeddings: expected at most 1048576, got 1099511627776"},
      {"/language_config/n_routed_experts", 10000000,
       "tiny/config.json: language_config.n_routed_experts: expected at most 4096, got 10000000"},
      {"/language_config/moe_intermediate_size", 1 << 24,
       "tiny/config.json: language_config.moe_intermediate_size: expected at most 65536, got 16777216"},
      {"/vision_config/layers", 1000000000,
       "tiny/config.json: vision_config.layers: expected at most 1024, got 1000000000"},
      {"/vision_config/width", 1 << 24, "tiny/config.json: vision_config.width: expected at most 16384, got 16777216"},
      {"/vision_config/image_size", 1000000,
       "tiny/config.json: vision_config.image_size: expected at most 8192, got 1000000"},
      {"/projector_config/depth", 1000000,
       "tiny/config.json: projector_config.depth: expected at most 64, got 1000000"},
  };
  for (const Absurd& c : cases) {
    SCOPED_TRACE(c.json_pointer);
    json config = base;
    config[json::json_pointer(c.json_pointer)] = c.value;
    std::string what;
    EXPECT_EQ(ParseVl2(config, &what), ErrorCode::kLimitExceeded) << what;
    EXPECT_EQ(what, std::string(c.message) + ": (dsvl limit, see docs/limits.md)");
  }
  // Below the range is a malformed config, not a limit.
  json config = base;
  config["language_config"]["num_hidden_layers"] = 0;
  std::string what;
  EXPECT_EQ(ParseVl2(config, &what), ErrorCode::kCorruptData);
  EXPECT_EQ(what, "tiny/config.json: language_config.num_hidden_layers: expected an integer in [1, 1024], got 0");
}

TEST(ConfigLimits, ProductsAndConsistencyAreChecked) {
  const json base = ReadFixtureJson("vl2_tiny", "config.json");
  std::string what;
  // Each size within range, their product (the expert manifest) not.
  json c = base;
  c["language_config"]["num_hidden_layers"] = 1024;
  c["language_config"]["n_routed_experts"] = 4096;
  c["language_config"]["n_group"] = 1;
  EXPECT_EQ(ParseVl2(c, &what), ErrorCode::kLimitExceeded);
  EXPECT_EQ(what,
            "tiny/config.json: language_config.num_hidden_layers x n_routed_experts: expected at most 262144, got "
            "1024 x 4096 = 4194304: (dsvl limit, see docs/limits.md)");
  // Widths within range, the model they describe (~5e13 parameters) not.
  c = base;
  c["language_config"]["hidden_size"] = 65536;
  c["language_config"]["num_attention_heads"] = 1024;
  c["language_config"]["num_key_value_heads"] = 1024;
  c["language_config"]["intermediate_size"] = 262144;
  c["language_config"]["num_hidden_layers"] = 1024;
  c["language_config"]["n_routed_experts"] = 16;
  EXPECT_EQ(ParseVl2(c, &what), ErrorCode::kLimitExceeded);
  EXPECT_NE(what.find("tiny/config.json: language_config.(language model size): expected at most 2^41 parameters"),
            std::string::npos)
      << what;
  // Layer indexes beyond the layer count.
  c = base;
  c["language_config"]["first_k_dense_replace"] = 4;
  EXPECT_EQ(ParseVl2(c, &what), ErrorCode::kCorruptData);
  EXPECT_EQ(what,
            "tiny/config.json: language_config.first_k_dense_replace: expected an integer in [0, "
            "num_hidden_layers=3], got 4");
  // Divisibility: experts into groups, heads into width.
  c = base;
  c["language_config"]["n_group"] = 3;
  EXPECT_EQ(ParseVl2(c, &what), ErrorCode::kCorruptData);
  EXPECT_EQ(what, "tiny/config.json: language_config.n_group: expected a positive divisor of n_routed_experts 16, got 3");
  c = base;
  c["vision_config"]["heads"] = 7;
  EXPECT_EQ(ParseVl2(c, &what), ErrorCode::kCorruptData);
  EXPECT_EQ(what, "tiny/config.json: vision_config.heads: expected a divisor of the width 64, got 7");
  // Patch grid: 8192 / 1 = 8192 patches per side.
  c = base;
  c["vision_config"]["image_size"] = 8192;
  c["vision_config"]["patch_size"] = 1;
  EXPECT_EQ(ParseVl2(c, &what), ErrorCode::kLimitExceeded);
  EXPECT_EQ(what,
            "tiny/config.json: vision_config.image_size / patch_size: expected at most 256 patches per side, got "
            "8192 / 1 = 8192: (dsvl limit, see docs/limits.md)");
  // VL1: the aligner's output width is the language model's input width.
  json v1 = ReadFixtureJson("v1_hybrid", "config.json");
  const json pre = ReadFixtureJson("v1_hybrid", "preprocessor_config.json");
  const json tiny_arch = ReadFixtureJson("v1_hybrid", "tiny_arch.json");
  v1["aligner_config"]["params"]["n_embed"] = 32;
  EXPECT_EQ(CodeOf([&] { ParseModelConfig("v1/config.json", v1, &pre, &tiny_arch, nullptr); }, &what),
            ErrorCode::kCorruptData);
  EXPECT_EQ(what, "v1/config.json: aligner_config.params.n_embed: expected the language model's hidden_size 64, got 32");
}

TEST(ConfigLimits, ProcessorSizesAreBounded) {
  const json config = ReadFixtureJson("vl2_tiny", "config.json");
  json processor = ReadFixtureJson("vl2_tiny", "processor_config.json");
  processor["candidate_resolutions"] = json::array({json::array({384, 384}), json::array({384, 1 << 20})});
  std::string what;
  EXPECT_EQ(CodeOf([&] { ParseModelConfig("tiny/config.json", config, &processor, nullptr, nullptr); }, &what),
            ErrorCode::kLimitExceeded);
  EXPECT_EQ(what,
            "processor_config.json: candidate_resolutions: expected sides of at most 16384 and at most 16777216 "
            "pixels, got 384x1048576: (dsvl limit, see docs/limits.md)");
  processor = ReadFixtureJson("vl2_tiny", "processor_config.json");
  processor["patch_size"] = 100000;
  EXPECT_EQ(CodeOf([&] { ParseModelConfig("tiny/config.json", config, &processor, nullptr, nullptr); }, &what),
            ErrorCode::kLimitExceeded);
  EXPECT_EQ(what, "processor_config.json: patch_size: expected at most 1024, got 100000: (dsvl limit, see docs/limits.md)");

  // DeepSeek-VL preprocessor_config.json and tiny_arch.json.
  const json v1 = ReadFixtureJson("v1_hybrid", "config.json");
  json pre = ReadFixtureJson("v1_hybrid", "preprocessor_config.json");
  json tiny_arch = ReadFixtureJson("v1_hybrid", "tiny_arch.json");
  pre["image_size"] = 1000000;
  EXPECT_EQ(CodeOf([&] { ParseModelConfig("v1/config.json", v1, &pre, &tiny_arch, nullptr); }, &what),
            ErrorCode::kLimitExceeded);
  EXPECT_EQ(what,
            "preprocessor_config.json: image_size: expected at most 8192, got 1000000: (dsvl limit, see docs/limits.md)");
  pre = ReadFixtureJson("v1_hybrid", "preprocessor_config.json");
  tiny_arch["sam_b_downsample"]["layers"] = 5000;
  EXPECT_EQ(CodeOf([&] { ParseModelConfig("v1/config.json", v1, &pre, &tiny_arch, nullptr); }, &what),
            ErrorCode::kLimitExceeded);
  EXPECT_EQ(what, "tiny_arch.json: sam_b_downsample.layers: expected at most 1024, got 5000: (dsvl limit, see docs/limits.md)");
}

// Every released architecture (full size, as make-model writes it) and every tiny preset parses
// within the limits, with its manifest.
TEST(ConfigLimits, EveryReleasedArchitectureIsInsideTheLimits) {
  for (const std::string& arch : ArchNames()) {
    for (bool tiny : {false, true}) {
      SCOPED_TRACE(arch + (tiny ? " (tiny)" : ""));
      const ArchPreset p = GetArchPreset(arch, tiny, /*real_token_ids=*/!tiny, DType::kBF16);
      const json config = json::parse(p.config.dump());
      const json processor = json::parse((p.family == ModelFamily::kDeepSeekVL ? p.preprocessor : p.processor).dump());
      const json tiny_arch = json::parse(p.tiny_arch.dump());
      ModelConfig c;
      ASSERT_EQ(CodeOf([&] {
                  c = ParseModelConfig("config.json", config, processor.is_null() ? nullptr : &processor,
                                       tiny_arch.is_null() ? nullptr : &tiny_arch, nullptr);
                }),
                ErrorCode::kOk);
      EXPECT_GT(ExpectedTensors(c).size(), 10u);
    }
  }
}

// The bug this guards against: `dsvl inspect` on a config with absurd sizes looped for minutes
// building its tensor manifest. It must now refuse at once (well under a second; 10 s allows for
// a loaded machine).
TEST(ConfigLimits, InspectRefusesAbsurdConfigAtOnce) {
  const fs::path dir = fs::temp_directory_path() / ("dsvl_absurd_config_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"model.safetensors", "processor_config.json", "tokenizer.json", "tokenizer_config.json"}) {
    fs::create_symlink(Fixture("vl2_tiny") / f, dir / f);
  }
  json config = ReadFixtureJson("vl2_tiny", "config.json");
  config["language_config"]["num_hidden_layers"] = 2000000000;
  config["language_config"]["n_routed_experts"] = 4096;
  std::ofstream(dir / "config.json") << config.dump();
  const auto start = std::chrono::steady_clock::now();
  std::string what;
  EXPECT_EQ(CodeOf([&] { InspectModel(dir.string()); }, &what), ErrorCode::kLimitExceeded);
  EXPECT_NE(what.find("language_config.num_hidden_layers: expected at most 1024, got 2000000000"), std::string::npos)
      << what;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  fs::remove_all(dir);
}

// A valid config whose weights have other shapes: loading reports the tensor, expected and actual.
TEST(ConfigLimits, WeightsDisagreeingWithAValidConfigAreReported) {
  const fs::path dir = fs::temp_directory_path() / ("dsvl_shape_mismatch_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"model.safetensors", "processor_config.json", "tokenizer.json", "tokenizer_config.json"}) {
    fs::create_symlink(Fixture("vl2_tiny") / f, dir / f);
  }
  json config = ReadFixtureJson("vl2_tiny", "config.json");
  config["language_config"]["intermediate_size"] = 96;  // the checkpoint's dense MLP is 160 wide
  std::ofstream(dir / "config.json") << config.dump();

  ModelOptions options;
  options.dir = dir.string();
  options.threads = 1;
  std::shared_ptr<Model> model;
  const Status s = Model::Load(options, &model);
  EXPECT_EQ(s.code(), ErrorCode::kCorruptData) << s.ToString();
  EXPECT_NE(s.message().find("language.model.layers.0.mlp.gate_proj.weight"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("expected [96, 64], got [160, 64]"), std::string::npos) << s.message();

  const InspectReport r = InspectModel(dir.string());
  EXPECT_FALSE(r.ok());
  bool found = false;
  for (const TensorProblem& p : r.problems) {
    if (p.name == "language.model.layers.0.mlp.gate_proj.weight") {
      found = true;
      EXPECT_EQ(p.kind, TensorProblem::Kind::kWrongShape);
      EXPECT_EQ(p.expected, (Shape{96, 64}));
      EXPECT_EQ(p.actual, (Shape{160, 64}));
    }
  }
  EXPECT_TRUE(found) << FormatInspectReport(r);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsvl
