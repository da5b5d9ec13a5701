// The quantisation policy (which tensor gets which type), `dsvl quantize` (a complete model
// directory whose weights equal what --quant builds in memory, bit for bit), loading quantised
// checkpoints through the public API, and the refusal of quantised tensors the engine cannot read.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "dsvl/dsvl.h"
#include "io/safetensors.h"
#include "llm/language_model.h"
#include "model/inspect.h"
#include "model/make_model.h"
#include "model/model_config.h"
#include "model/quant_policy.h"
#include "model/quantize.h"
#include "npy.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

const ExpectedTensor& Find(const std::vector<ExpectedTensor>& manifest, const std::string& name) {
  for (const ExpectedTensor& t : manifest)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

DType Planned(const std::vector<ExpectedTensor>& m, const std::string& name, const QuantOptions& o,
              DType source = DType::kBF16) {
  return PlannedDType(Find(m, name), source, o);
}

TEST(QuantPolicy, Vl2TinyDefaultsAndFallbacks) {
  // Full-size shapes: hidden 1280, expert rows of 896 (not a multiple of 256), SigLIP MLP 4304.
  const std::vector<ExpectedTensor> m = ExpectedTensors(PresetModelConfig("deepseek-vl2-tiny", false));
  const QuantOptions q4k = MakeQuantOptions("q4_k");
  EXPECT_EQ(Planned(m, "language.model.layers.1.self_attn.q_proj.weight", q4k), DType::kQ4_K);
  EXPECT_EQ(Planned(m, "language.model.layers.1.mlp.experts.0.gate_proj.weight", q4k), DType::kQ4_K);
  EXPECT_EQ(Planned(m, "language.model.layers.1.mlp.experts.0.down_proj.weight", q4k), DType::kQ4_0);
  EXPECT_EQ(Planned(m, "language.model.layers.1.mlp.shared_experts.up_proj.weight", q4k), DType::kQ4_K);
  EXPECT_EQ(Planned(m, "language.model.embed_tokens.weight", q4k), DType::kQ8_0);
  EXPECT_EQ(Planned(m, "language.lm_head.weight", q4k), DType::kQ8_0);
  for (const char* kept : {"language.model.layers.1.mlp.gate.weight", "language.model.layers.1.input_layernorm.weight",
                           "language.model.norm.weight", "vision.blocks.0.attn.qkv.weight",
                           "vision.patch_embed.proj.weight", "projector.layers.0.weight", "image_newline"})
    EXPECT_EQ(Planned(m, kept, q4k), DType::kBF16) << kept;

  const QuantOptions q8 = MakeQuantOptions("q8_0");
  EXPECT_EQ(Planned(m, "language.model.layers.1.mlp.experts.0.down_proj.weight", q8), DType::kQ8_0);
  EXPECT_EQ(Planned(m, "language.model.embed_tokens.weight", q8), DType::kQ8_0);
  EXPECT_EQ(Planned(m, "language.lm_head.weight", q8, DType::kF32), DType::kQ8_0);

  // Overrides: floats keep (or convert) a class; --quant-vision quantises Linear layers whose rows
  // allow it, never convolutions.
  const QuantOptions o = MakeQuantOptions("q4_k", "bf16", "f32", "q8_0");
  EXPECT_EQ(Planned(m, "language.model.embed_tokens.weight", o), DType::kBF16);
  EXPECT_EQ(Planned(m, "language.lm_head.weight", o), DType::kF32);
  EXPECT_EQ(Planned(m, "vision.blocks.0.attn.qkv.weight", o), DType::kQ8_0);
  EXPECT_EQ(Planned(m, "vision.blocks.0.mlp.fc1.weight", o), DType::kQ8_0);
  EXPECT_EQ(Planned(m, "vision.blocks.0.mlp.fc2.weight", o), DType::kBF16) << "rows of 4304";
  EXPECT_EQ(Planned(m, "vision.blocks.0.attn.qkv.bias", o), DType::kBF16);
  EXPECT_EQ(Planned(m, "vision.patch_embed.proj.weight", o), DType::kBF16);
  EXPECT_EQ(Planned(m, "projector.layers.0.weight", o), DType::kQ8_0);
}

TEST(QuantPolicy, MlaKvBAndRouterStayAndQuantisedSourcesAreRefused) {
  const std::vector<ExpectedTensor> m = ExpectedTensors(PresetModelConfig("deepseek-vl2", false));
  const QuantOptions q8 = MakeQuantOptions("q8_0");
  EXPECT_EQ(Planned(m, "language.model.layers.1.self_attn.kv_b_proj.weight", q8), DType::kBF16);
  EXPECT_EQ(Planned(m, "language.model.layers.1.self_attn.q_proj.weight", q8), DType::kQ8_0);
  EXPECT_EQ(Planned(m, "language.model.layers.1.mlp.gate.e_score_correction_bias", q8), DType::kBF16);
  try {
    Planned(m, "language.model.layers.1.self_attn.q_proj.weight", MakeQuantOptions("q4_k"), DType::kQ8_0);
    FAIL() << "re-quantising a Q8_0 tensor was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("q_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("already Q8_0"), std::string::npos) << e.what();
  }
  // Even to the same type; a class the options leave alone is no conversion.
  EXPECT_THROW(Planned(m, "language.model.layers.1.self_attn.q_proj.weight", q8, DType::kQ8_0), Error);
  EXPECT_EQ(Planned(m, "vision.blocks.0.attn.qkv.weight", q8, DType::kQ8_0), DType::kQ8_0);
}

TEST(QuantPolicy, ParsesTypeNames) {
  EXPECT_EQ(ParseQuantType("Q4_K", "--quant", false), DType::kQ4_K);
  EXPECT_EQ(ParseQuantType("q4_0", "--quant", false), DType::kQ4_0);
  EXPECT_EQ(ParseQuantType("f16", "--quant-embed", true), DType::kF16);
  EXPECT_THROW(ParseQuantType("bf16", "--quant", false), Error);
  try {
    MakeQuantOptions("q5_k");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("--quant"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("q5_k"), std::string::npos);
  }
}

class QuantizeDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    tmp_ = fs::temp_directory_path() / ("dsvl_quantize_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }
  fs::path tmp_;
};

fs::path Vl2TinyCkpt() { return fs::path(test::FixtureDir()) / "vl2_tiny" / "ckpt"; }

ThreadPool& Pool() {
  static ThreadPool pool(2);
  return pool;
}

// All prompt logits of a family's fp32 text case.
std::vector<float> PromptLogits(const WeightStore& weights, const std::string& dir,
                                const std::string& family = "vl2_tiny") {
  const ModelConfig config = LoadModelConfig(dir, weights);
  std::unique_ptr<LanguageModel> lm = CreateLanguageModel(config.llm, weights);
  const test::NpyArray e =
      test::LoadNpy((fs::path(test::FixtureDir()) / family / "fp32/text/inputs_embeds.npy").string());
  const std::vector<float> embeds = e.f32();
  const int64_t T = e.shape[0];
  std::vector<float> logits(static_cast<size_t>(T * config.llm.vocab_size));
  std::unique_ptr<KvCache> cache = lm->NewCache(T);
  ForwardRequest req;
  req.embeds = embeds.data();
  req.n = T;
  req.logits_out = logits.data();
  req.all_logits = true;
  lm->Forward(Pool(), *cache, req);
  return logits;
}

nlohmann::json Header(const fs::path& file) {
  const std::string bytes = ReadFileToString(file.string());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  return nlohmann::json::parse(bytes.substr(8, n));
}

TEST_F(QuantizeDirTest, DirectoryEqualsInMemoryQuantisationExactly) {
  for (const uint64_t shard_bytes : {uint64_t{4} << 30, uint64_t{200} << 10}) {
    const fs::path out = tmp_ / ("q4k_" + std::to_string(shard_bytes));
    QuantizeCheckpointOptions o;
    o.model_dir = Vl2TinyCkpt().string();
    o.out_dir = out.string();
    o.quant = MakeQuantOptions("q4_k");
    o.max_shard_bytes = shard_bytes;
    o.threads = 2;
    const QuantizeSummary s = QuantizeCheckpoint(o);
    EXPECT_GT(s.tensors_converted, 0);
    EXPECT_LT(s.bytes_after, s.bytes_before);

    // Every non-weight file copied unchanged (config.json untouched: nothing for the official code
    // to trip on).
    for (const auto& e : fs::directory_iterator(Vl2TinyCkpt())) {
      if (e.path().extension() == ".safetensors") continue;
      const fs::path copy = out / e.path().filename();
      ASSERT_TRUE(fs::exists(copy)) << copy;
      EXPECT_EQ(ReadFileToString(copy.string()), ReadFileToString(e.path().string())) << copy;
    }
    const bool sharded = shard_bytes < (uint64_t{1} << 20);
    EXPECT_EQ(fs::exists(out / "model.safetensors.index.json"), sharded);
    fs::path first = out / "model.safetensors";
    for (const auto& e : fs::directory_iterator(out))
      if (e.path().filename().string().rfind("model-00001-of-", 0) == 0) first = e.path();
    ASSERT_TRUE(fs::exists(first)) << first;
    const nlohmann::json h = Header(first);
    EXPECT_EQ(h.at("__metadata__").at("dsvl.quant.version"), kQuantContainerVersion);

    // Loads mmapped with no conversion; the tensors are bit for bit the in-memory ones.
    auto loaded = WeightStore::Open(out.string());
    auto in_memory = WeightStore::Open(Vl2TinyCkpt().string());
    const ModelConfig config = LoadModelConfig(Vl2TinyCkpt().string(), *in_memory);
    QuantizeInMemory(*in_memory, ExpectedTensors(config), MakeQuantOptions("q4_k"), Pool());
    ASSERT_EQ(loaded->tensors().size(), in_memory->tensors().size());
    int quantized = 0;
    for (const auto& [name, w] : in_memory->tensors()) {
      const TensorView& v = loaded->Get(name);
      ASSERT_EQ(v.dtype, w.view.dtype) << name;
      ASSERT_EQ(v.shape, w.view.shape) << name;
      EXPECT_EQ(std::memcmp(v.data, w.view.data, v.nbytes()), 0) << name;
      quantized += IsQuantized(v.dtype);
    }
    EXPECT_GT(quantized, 0);
    const std::vector<float> a = PromptLogits(*loaded, out.string());
    const std::vector<float> b = PromptLogits(*in_memory, Vl2TinyCkpt().string());
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "logits differ";
  }
}

TEST_F(QuantizeDirTest, RefusesNonEmptyOutputUnlessForcedAndRequantisation) {
  QuantizeCheckpointOptions o;
  o.model_dir = Vl2TinyCkpt().string();
  o.out_dir = (tmp_ / "q8").string();
  o.quant = MakeQuantOptions("q8_0");
  o.threads = 1;
  QuantizeCheckpoint(o);
  try {
    QuantizeCheckpoint(o);
    FAIL() << "overwrote a non-empty --out";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
  }
  o.force = true;
  EXPECT_NO_THROW(QuantizeCheckpoint(o));

  QuantizeCheckpointOptions again = o;
  again.model_dir = o.out_dir;
  again.out_dir = (tmp_ / "q4").string();
  again.quant = MakeQuantOptions("q4_k");
  try {
    QuantizeCheckpoint(again);
    FAIL() << "re-quantised a Q8_0 checkpoint";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("already Q8_0"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(again.out_dir)) << "a refused run must not create --out";
}

TEST_F(QuantizeDirTest, PublicApiLoadsQuantisedAndQuantisesAtLoad) {
  QuantizeCheckpointOptions o;
  o.model_dir = Vl2TinyCkpt().string();
  o.out_dir = (tmp_ / "q8").string();
  o.quant = MakeQuantOptions("q8_0");
  QuantizeCheckpoint(o);
  for (const auto& [dir, quant] : std::vector<std::pair<std::string, std::string>>{
           {o.out_dir, ""}, {Vl2TinyCkpt().string(), "q4_k"}}) {
    ModelOptions mo;
    mo.dir = dir;
    mo.threads = 2;
    mo.quant = quant;
    std::shared_ptr<Model> model;
    const Status st = Model::Load(mo, &model);
    ASSERT_TRUE(st.ok()) << st.message();
    std::unique_ptr<Session> session;
    ASSERT_TRUE(Session::Create(model, &session).ok());
    GenerateRequest req;
    req.prompt_ids = {0, 10, 11, 12};
    req.max_new_tokens = 4;
    req.ignore_eos = true;
    GenerateResult res;
    const Status g = session->Generate(req, &res);
    ASSERT_TRUE(g.ok()) << g.message();
    EXPECT_EQ(res.ids.size(), 4u);
  }
  // Quantised vision Linear layers and projector (--quant-vision) through a whole image request.
  {
    ModelOptions mo;
    mo.dir = Vl2TinyCkpt().string();
    mo.threads = 2;
    mo.quant = "q8_0";
    mo.quant_vision = "q8_0";
    std::shared_ptr<Model> model;
    const Status st = Model::Load(mo, &model);
    ASSERT_TRUE(st.ok()) << st.message();
    std::unique_ptr<Session> session;
    ASSERT_TRUE(Session::Create(model, &session).ok());
    GenerateRequest req;
    req.messages.push_back(Message{"user", "<image>\nDescribe.",
                                   {ImageInput::FromPath((fs::path(test::FixtureDir()) / "images/D_17x23.png").string())}});
    req.max_new_tokens = 3;
    req.ignore_eos = true;
    GenerateResult res;
    const Status g = session->Generate(req, &res);
    ASSERT_TRUE(g.ok()) << g.message();
    EXPECT_EQ(res.ids.size(), 3u);
  }
  ModelOptions bad;
  bad.dir = Vl2TinyCkpt().string();
  bad.quant = "q3_k";
  std::shared_ptr<Model> model;
  EXPECT_EQ(Model::Load(bad, &model).code(), ErrorCode::kInvalidArgument);
  bad.quant = "q8_0";
  bad.dir = o.out_dir;  // already quantised
  EXPECT_EQ(Model::Load(bad, &model).code(), ErrorCode::kInvalidArgument);
}

TEST_F(QuantizeDirTest, InspectShowsEachTensorsTypeAndTotals) {
  QuantizeCheckpointOptions o;
  o.model_dir = Vl2TinyCkpt().string();
  o.out_dir = (tmp_ / "q4").string();
  o.quant = MakeQuantOptions("q4_k");
  const QuantizeSummary s = QuantizeCheckpoint(o);
  const InspectReport r = InspectModel(o.out_dir);
  EXPECT_TRUE(r.ok()) << FormatInspectReport(r);
  ASSERT_TRUE(r.dtypes.count("Q4_0") && r.dtypes.count("Q8_0") && r.dtypes.count("F32"));
  EXPECT_EQ(r.dtypes.at("Q8_0").tensors, 2);  // embed_tokens and lm_head
  uint64_t bytes = 0;
  for (const auto& [name, d] : r.dtypes) bytes += d.bytes;
  EXPECT_EQ(bytes, s.bytes_after);
  const std::string text = FormatInspectReport(r);
  EXPECT_NE(text.find("embedding: Q8_0 x1"), std::string::npos) << text;
  EXPECT_NE(text.find("expert: Q4_0 x"), std::string::npos) << text;
  EXPECT_NE(FormatInspectReport(r, true).find("language.lm_head.weight Q8_0 [512, 64]"), std::string::npos);
  const nlohmann::ordered_json j = InspectReportJson(r);
  EXPECT_EQ(j.at("dtypes").at("Q8_0").at("tensors"), 2);
  bool found = false;
  for (const auto& t : j.at("tensor_list")) {
    if (t.at("name") != "language.model.embed_tokens.weight") continue;
    found = true;
    EXPECT_EQ(t.at("dtype"), "Q8_0");
    EXPECT_EQ(t.at("class"), "embedding");
    EXPECT_EQ(t.at("bytes"), 512 * 64 / 32 * 34);
  }
  EXPECT_TRUE(found);
}

TEST_F(QuantizeDirTest, QuantisedMlaKvBIsDequantisedAtLoad) {
  // The policy keeps kv_b_proj, but a checkpoint that stores it quantised must compute exactly as
  // one storing its dequantised values in f32 (the MLA layer widens it once at load).
  const std::string dir = (fs::path(test::FixtureDir()) / "vl2_small" / "ckpt").string();
  auto quantized = WeightStore::Open(dir);
  auto widened = WeightStore::Open(dir);
  const ModelConfig config = LoadModelConfig(dir, *quantized);
  const std::vector<ExpectedTensor> manifest = ExpectedTensors(config);
  int replaced = 0;
  for (const ExpectedTensor& t : manifest) {
    if (t.cls != TensorClass::kMlaKvB) continue;
    Tensor q = ConvertTensor(Pool(), quantized->Get(t.name), DType::kQ8_0);
    widened->Replace(t.name, ConvertTensor(Pool(), q.view(), DType::kF32));
    quantized->Replace(t.name, std::move(q));
    ++replaced;
  }
  ASSERT_EQ(replaced, config.llm.num_layers);
  EXPECT_NO_THROW(CheckQuantizedTensorsReadable(manifest, *quantized));
  const std::vector<float> a = PromptLogits(*quantized, dir, "vl2_small");
  const std::vector<float> b = PromptLogits(*widened, dir, "vl2_small");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST_F(QuantizeDirTest, QuantisedNormIsRefusedNamingTheTensor) {
  // A hand-made checkpoint (not from dsvl quantize) with an RMSNorm scale stored as Q8_0.
  const fs::path dir = tmp_ / "bad";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(Vl2TinyCkpt()))
    if (e.path().extension() != ".safetensors") fs::copy_file(e.path(), dir / e.path().filename());
  auto store = WeightStore::Open(Vl2TinyCkpt().string());
  const std::string norm = "language.model.layers.0.input_layernorm.weight";
  const Tensor q = ConvertTensor(Pool(), store->Get(norm), DType::kQ8_0);
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, w] : store->tensors()) tensors.push_back({name, name == norm ? q.view() : w.view});
  WriteSafetensors((dir / "model.safetensors").string(), tensors);
  ModelOptions mo;
  mo.dir = dir.string();
  std::shared_ptr<Model> model;
  const Status st = Model::Load(mo, &model);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << st.message();
  EXPECT_NE(st.message().find(norm), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("Q8_0"), std::string::npos) << st.message();
}

TEST_F(QuantizeDirTest, MakeModelQuantEqualsQuantisingTheF32Model) {
  // make-model --quant writes, streamed, what quantising the same seed's f32 model gives, bit for
  // bit (the quantised tensors are drawn as the same f32 values), and the result loads and runs.
  for (const char* arch : {"deepseek-vl2-small", "deepseek-vl-7b"}) {
    MakeModelOptions f32;
    f32.arch = arch;
    f32.tiny = true;
    f32.dtype = DType::kF32;
    f32.seed = 7;
    f32.out_dir = (tmp_ / (std::string(arch) + "_f32")).string();
    MakeModel(f32);
    MakeModelOptions direct = f32;
    direct.out_dir = (tmp_ / (std::string(arch) + "_q")).string();
    direct.quant = MakeQuantOptions("q4_k", "", "", "q8_0");
    direct.max_shard_bytes = 256 << 10;  // sharded, with an index
    MakeModel(direct);
    EXPECT_TRUE(fs::exists(fs::path(direct.out_dir) / "model.safetensors.index.json"));

    QuantizeCheckpointOptions o;
    o.model_dir = f32.out_dir;
    o.out_dir = (tmp_ / (std::string(arch) + "_via_quantize")).string();
    o.quant = direct.quant;
    QuantizeCheckpoint(o);
    auto a = WeightStore::Open(direct.out_dir);
    auto b = WeightStore::Open(o.out_dir);
    ASSERT_EQ(a->tensors().size(), b->tensors().size()) << arch;
    int quantized = 0;
    for (const auto& [name, w] : a->tensors()) {
      const TensorView& v = b->Get(name);
      ASSERT_EQ(w.view.dtype, v.dtype) << arch << " " << name;
      EXPECT_EQ(std::memcmp(w.view.data, v.data, v.nbytes()), 0) << arch << " " << name;
      quantized += IsQuantized(v.dtype);
    }
    EXPECT_GT(quantized, 0) << arch;

    ModelOptions mo;
    mo.dir = direct.out_dir;
    mo.threads = 2;
    std::shared_ptr<Model> model;
    const Status st = Model::Load(mo, &model);
    ASSERT_TRUE(st.ok()) << arch << ": " << st.message();
  }
}

}  // namespace
}  // namespace dsvl
