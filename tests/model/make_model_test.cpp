// `make-model` output is a complete, loadable checkpoint directory: for every architecture the tiny
// model loads with LoadModelConfig, passes inspect, and its tokenizer loads, round-trips text and
// resolves the family's special tokens at the configured ids.
#include "model/make_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "model/arch_presets.h"
#include "model/inspect.h"
#include "model/synthetic_tokenizer.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(fs::temp_directory_path() /
              ("dsvl_make_model_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string SafeName(std::string s) {
  for (char& c : s)
    if (c == '-' || c == '.') c = '_';
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

float ValueAt(const TensorView& v, int64_t i) {
  return v.dtype == DType::kBF16 ? Bf16ToF32(v.as<uint16_t>()[i]) : v.f32()[i];
}

// Hugging Face `tokenizers` numbers added tokens that are not in the model vocabulary from the
// vocabulary's size on, ignoring their "id" fields: ids must be exactly 0..max with no gap for HF
// and dsvl to agree. (Checked by hand against npm tokenizers@0.23.2 on 506 texts, see report.)
void ExpectContiguousIds(const fs::path& tokenizer_json) {
  const nlohmann::json tok = nlohmann::json::parse(ReadAll(tokenizer_json));
  std::vector<int64_t> ids;
  std::set<std::string> vocab_tokens;
  for (const auto& [k, v] : tok["model"]["vocab"].items()) {
    ids.push_back(v.get<int64_t>());
    vocab_tokens.insert(k);
  }
  for (const auto& t : tok["added_tokens"])
    if (!vocab_tokens.count(t["content"].get<std::string>())) ids.push_back(t["id"].get<int64_t>());
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(ids[i], static_cast<int64_t>(i)) << tokenizer_json << ": id gap or duplicate";
  }
}

class MakeTinyModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MakeTinyModelTest, LoadsInspectsAndTokenizes) {
  const std::string arch = GetParam();
  TempDir tmp(SafeName(arch));
  const std::string dir = (tmp.path() / "model").string();
  MakeModelOptions o;
  o.arch = arch;
  o.tiny = true;
  o.seed = 7;
  o.out_dir = dir;
  const MakeModelResult made = MakeModel(o);
  EXPECT_GT(made.weight_bytes, 0u);

  auto weights = WeightStore::Open(dir);
  const ModelConfig config = LoadModelConfig(dir, *weights);
  const ArchPreset preset = GetArchPreset(arch, true, false, DType::kBF16);
  EXPECT_EQ(config.family, preset.family);
  EXPECT_LE(config.llm.hidden_size, 128);
  for (const auto& [name, w] : weights->tensors()) EXPECT_EQ(w.view.dtype, DType::kBF16) << name;

  const InspectReport report = InspectModel(dir);
  EXPECT_TRUE(report.ok()) << FormatInspectReport(report);
  EXPECT_TRUE(report.problems.empty());
  EXPECT_EQ(report.checkpoint_params, made.params.total);

  // Values: norms 1, biases 0, weights small, nonzero and finite.
  const std::string lm = config.llm.prefix;
  const TensorView& norm = weights->Get(lm + "model.norm.weight");
  for (int64_t i = 0; i < norm.numel(); ++i) ASSERT_EQ(ValueAt(norm, i), 1.0f);
  const TensorView& embed = weights->Get(lm + "model.embed_tokens.weight");
  double sum_sq = 0;
  for (int64_t i = 0; i < embed.numel(); ++i) {
    const float v = ValueAt(embed, i);
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_LE(std::fabs(v), 0.035f);
    sum_sq += static_cast<double>(v) * v;
  }
  const double std_dev = std::sqrt(sum_sq / static_cast<double>(embed.numel()));
  EXPECT_NEAR(std_dev, 0.02, 0.002);  // uniform with the N(0, 0.02) init's standard deviation
  const std::string bias =
      config.family == ModelFamily::kDeepSeekVL2
          ? "projector.layers.0.bias"
          : "aligner." + std::string(config.sam ? "high_up_proj.bias" : "layers.0.bias");
  const TensorView& b = weights->Get(bias);
  for (int64_t i = 0; i < b.numel(); ++i) ASSERT_EQ(ValueAt(b, i), 0.0f) << bias;

  // Tokenizer: loads, round-trips, specials at the preset's ids, all ids inside the vocabulary.
  auto tok = Tokenizer::Load(dir);
  EXPECT_LE(tok->vocab_size(), config.llm.vocab_size);
  const std::string text =
      "The picture shows 3 red houses, a garden and 12 trees.\nUser: what is it?";
  const std::vector<int64_t> ids = tok->Encode(text);
  EXPECT_LT(ids.size(), text.size());  // the learned merges compress English
  EXPECT_EQ(tok->Decode(ids), text);
  for (const auto& s : preset.specials) {
    EXPECT_EQ(tok->TokenToId(s.content), s.id) << s.content;
    EXPECT_TRUE(tok->IsSpecial(s.id)) << s.content;
    // Matched whole inside text, as the processor relies on.
    const std::vector<int64_t> around = tok->Encode("a" + s.content + "b");
    ASSERT_EQ(around.size(), 3u) << s.content;
    EXPECT_EQ(around[1], s.id) << s.content;
  }
  EXPECT_EQ(tok->bos_id(), config.llm.bos_id);
  EXPECT_EQ(tok->eos_id(), config.llm.eos_id);
  EXPECT_GE(tok->pad_id(), 0);
  const std::vector<int64_t> with_bos = tok->Encode("hello", /*add_special_tokens=*/true);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos[0], config.llm.bos_id);
  const std::string image_token =
      config.family == ModelFamily::kDeepSeekVL ? "<image_placeholder>" : "<image>";
  ExpectContiguousIds(fs::path(dir) / "tokenizer.json");
  EXPECT_GE(tok->TokenToId(image_token), 0);
  EXPECT_LT(tok->TokenToId(image_token), config.llm.vocab_size);
}

INSTANTIATE_TEST_SUITE_P(AllArchs, MakeTinyModelTest, ::testing::ValuesIn(ArchNames()),
                         [](const auto& info) { return SafeName(info.param); });

TEST(MakeModel, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir tmp("seed");
  MakeModelOptions o;
  o.arch = "deepseek-vl2-small";
  o.tiny = true;
  o.seed = 1;
  o.out_dir = (tmp.path() / "a").string();
  MakeModel(o);
  o.out_dir = (tmp.path() / "b").string();
  MakeModel(o);
  o.seed = 2;
  o.out_dir = (tmp.path() / "c").string();
  MakeModel(o);
  const std::string a = ReadAll(tmp.path() / "a" / "model.safetensors");
  EXPECT_EQ(a, ReadAll(tmp.path() / "b" / "model.safetensors"));
  EXPECT_NE(a, ReadAll(tmp.path() / "c" / "model.safetensors"));
  EXPECT_EQ(ReadAll(tmp.path() / "a" / "tokenizer.json"),
            ReadAll(tmp.path() / "c" / "tokenizer.json"));
}

TEST(MakeModel, F32AndShardedOutputLoads) {
  TempDir tmp("sharded");
  MakeModelOptions o;
  o.arch = "deepseek-vl-7b";
  o.tiny = true;
  o.dtype = DType::kF32;
  o.max_shard_bytes = 1u << 20;  // the tiny hybrid model is ~3.4 MB in f32: several shards
  o.out_dir = tmp.path().string();
  uint64_t last_done = 0, calls = 0;
  o.progress = [&](uint64_t done, uint64_t total, const std::string&) {
    EXPECT_GE(done, last_done);
    EXPECT_LE(done, total);
    last_done = done;
    ++calls;
  };
  const MakeModelResult r = MakeModel(o);
  EXPECT_EQ(last_done, r.weight_bytes);
  EXPECT_GT(calls, 0u);
  ASSERT_TRUE(fs::exists(tmp.path() / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(tmp.path() / "model.safetensors"));
  int shards = 0;
  for (const auto& e : fs::directory_iterator(tmp.path()))
    if (e.path().extension() == ".safetensors") {
      ++shards;
      EXPECT_LE(fs::file_size(e.path()), (1u << 20) + (64u << 10)) << e.path();  // + header
    }
  EXPECT_GE(shards, 3);
  const nlohmann::json index =
      nlohmann::json::parse(ReadAll(tmp.path() / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), r.weight_bytes);
  EXPECT_EQ(index["weight_map"].size(), ExpectedTensors(r.config).size());
  auto weights = WeightStore::Open(tmp.path().string());
  for (const auto& [name, w] : weights->tensors()) EXPECT_EQ(w.view.dtype, DType::kF32) << name;
  const InspectReport report = InspectModel(tmp.path().string());
  EXPECT_TRUE(report.ok()) << FormatInspectReport(report);
  EXPECT_EQ(report.weight_files.size(), static_cast<size_t>(shards));
  const nlohmann::json config = nlohmann::json::parse(ReadAll(tmp.path() / "config.json"));
  EXPECT_EQ(config["torch_dtype"], "float32");

  // Rewriting the directory unsharded removes the old shards and index.
  o.max_shard_bytes = uint64_t{4} << 30;
  o.dtype = DType::kBF16;
  o.progress = {};
  MakeModel(o);
  EXPECT_FALSE(fs::exists(tmp.path() / "model.safetensors.index.json"));
  EXPECT_TRUE(InspectModel(tmp.path().string()).ok());
}

TEST(MakeModel, RealTokenizerGetsFamilySpecialsAtRealIds) {
  TempDir tmp("realtok");
  MakeModelOptions o;
  o.arch = "deepseek-vl2-tiny";
  o.tiny = true;
  o.tokenizer =
      (fs::path(DSVL_TEST_DATA_DIR) / "tokenizers" / "deepseek-v3" / "tokenizer.json").string();
  o.out_dir = tmp.path().string();
  const MakeModelResult r = MakeModel(o);
  // The real vocabulary needs the real embedding size; the rest stays tiny.
  EXPECT_EQ(r.config.llm.vocab_size, 129280);
  EXPECT_EQ(r.config.llm.hidden_size, 64);
  EXPECT_TRUE(InspectModel(tmp.path().string()).ok());
  auto tok = Tokenizer::Load(tmp.path().string());
  const char* const vl2[] = {"<image>",  "<|ref|>",       "<|/ref|>", "<|det|>",
                             "<|/det|>", "<|grounding|>", "<|User|>", "<|Assistant|>"};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(tok->TokenToId(vl2[i]), 128815 + i) << vl2[i];
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->TokenToId("<｜▁pad▁｜>"), 2);
  EXPECT_EQ(tok->vocab_size(), 128823);
  ExpectContiguousIds(tmp.path() / "tokenizer.json");
  const std::string text = "Describe this image, please.";
  EXPECT_EQ(tok->Decode(tok->Encode(text)), text);
  // The copied vocabulary is the real one: a real case from cases.jsonl would hold; spot-check that
  // ordinary text gets the V3 ids (not the synthetic tokenizer's), i.e. more than 256 distinct ids.
  EXPECT_GT(tok->Encode(" the")[0], 258);
}

TEST(MakeModel, DeepSeekLlmTokenizerFitsVl1ButCollidesWithVl2Small) {
  const std::string llm_tok =
      (fs::path(DSVL_TEST_DATA_DIR) / "tokenizers" / "deepseek-llm" / "tokenizer.json").string();
  {
    TempDir tmp("vl1tok");
    MakeModelOptions o;
    o.arch = "deepseek-vl-1.3b";
    o.tiny = true;
    o.tokenizer = llm_tok;
    o.out_dir = tmp.path().string();
    const MakeModelResult r = MakeModel(o);
    EXPECT_EQ(r.config.llm.vocab_size, 102400);
    auto tok = Tokenizer::Load(tmp.path().string());
    EXPECT_EQ(tok->TokenToId("<image_placeholder>"), 100015);  // already in the file, same id
    EXPECT_EQ(tok->bos_id(), 100000);
    EXPECT_TRUE(InspectModel(tmp.path().string()).ok());
  }
  {
    // docs/model-facts.md, 'VL2 prompt and special tokens': VL2-small's pad/<image>... take
    // 100002-100010, which this file uses for single-character tokens: refuse rather than write a
    // tokenizer that disagrees with the model.
    TempDir tmp("vl2smalltok");
    MakeModelOptions o;
    o.arch = "deepseek-vl2-small";
    o.tiny = true;
    o.tokenizer = llm_tok;
    o.out_dir = (tmp.path() / "out").string();
    try {
      MakeModel(o);
      FAIL() << "expected a collision error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("100002"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(tmp.path() / "out"));  // nothing written
  }
}

TEST(MakeModel, ConfigOnlyFullSizeWritesOfficialConfigs) {
  TempDir tmp("configonly");
  for (const std::string& arch : ArchNames()) {
    MakeModelOptions o;
    o.arch = arch;
    o.config_only = true;
    o.out_dir = (tmp.path() / SafeName(arch)).string();
    const MakeModelResult r = MakeModel(o);
    EXPECT_EQ(r.weight_bytes, 0u);
    const fs::path d = o.out_dir;
    EXPECT_FALSE(fs::exists(d / "model.safetensors")) << arch;
    const nlohmann::json config = nlohmann::json::parse(ReadAll(d / "config.json"));
    const bool vl1 = arch.rfind("deepseek-vl-", 0) == 0;
    EXPECT_EQ(config["model_type"], vl1 ? "multi_modality" : "deepseek_vl_v2") << arch;
    EXPECT_EQ(fs::exists(d / "preprocessor_config.json"), vl1) << arch;
    EXPECT_TRUE(fs::exists(d / "processor_config.json")) << arch;
    EXPECT_FALSE(fs::exists(d / "tiny_arch.json")) << arch;  // the official tables size full models
    // The written config parses back to the same architecture.
    const nlohmann::json proc = nlohmann::json::parse(
        ReadAll(d / (vl1 ? "preprocessor_config.json" : "processor_config.json")));
    const ModelConfig back =
        ParseModelConfig((d / "config.json").string(), config, &proc, nullptr, nullptr);
    EXPECT_EQ(CountParameters(back).total, r.params.total) << arch;
    // Synthetic tokenizer with the real special ids.
    auto tok = Tokenizer::Load(d.string());
    EXPECT_EQ(tok->bos_id(), back.llm.bos_id) << arch;
    EXPECT_LE(tok->vocab_size(), back.llm.vocab_size) << arch;
    ExpectContiguousIds(d / "tokenizer.json");
    if (vl1) {
      EXPECT_EQ(tok->TokenToId("<image_placeholder>"), 100015);
    }
    if (arch == "deepseek-vl2-small") {
      EXPECT_EQ(tok->TokenToId("<|Assistant|>"), 100010);
    }
    if (arch == "deepseek-vl2" || arch == "deepseek-vl2-tiny") {
      EXPECT_EQ(tok->TokenToId("<|Assistant|>"), 128822);
    }
  }
  // Spot-check real numbers (docs/model-facts.md, 'Released models').
  const nlohmann::json base =
      nlohmann::json::parse(ReadAll(tmp.path() / "deepseek_vl2" / "config.json"));
  EXPECT_EQ(base["language_config"]["n_routed_experts"], 72);
  EXPECT_EQ(base["language_config"]["topk_method"], "noaux_tc");
  EXPECT_EQ(base["vision_config"]["width"], 1152);
  const nlohmann::json tiny =
      nlohmann::json::parse(ReadAll(tmp.path() / "deepseek_vl2_tiny" / "config.json"));
  EXPECT_EQ(tiny["language_config"]["use_mla"], false);
  EXPECT_EQ(tiny["language_config"]["hidden_size"], 1280);
}

TEST(MakeModel, AddingSpecialsRejectsIdGaps) {
  nlohmann::json tok = BuildSyntheticTokenizer({.style = PreTokenizerStyle::kDeepSeekV3,
                                                .specials = {{"<a>", 300}},
                                                .model_vocab_end = 300});
  AddSpecialTokens(tok, {{"<b>", 301}}, "test");  // next id: fine
  AddSpecialTokens(tok, {{"<a>", 300}}, "test");  // present at its id: fine
  EXPECT_EQ(MaxTokenId(tok), 301);
  EXPECT_THROW(AddSpecialTokens(tok, {{"<c>", 305}}, "test"), Error);  // gap
  EXPECT_THROW(AddSpecialTokens(tok, {{"<a>", 302}}, "test"), Error);  // present elsewhere
  EXPECT_THROW(AddSpecialTokens(tok, {{"<d>", 301}}, "test"), Error);  // id taken
}

TEST(MakeModel, UnknownArchListsKnownOnes) {
  MakeModelOptions o;
  o.arch = "deepseek-vl3";
  o.out_dir = "/nonexistent/never-created";
  try {
    MakeModel(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("deepseek-vl2-small"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsvl
