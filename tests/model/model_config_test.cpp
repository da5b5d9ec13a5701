// LoadModelConfig on every fixture checkpoint, the official defaults for sparse configs, and clear
// errors for broken ones.
#include "model/model_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "dsvl/error.h"
#include "io/safetensors.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path Fixture(const std::string& family, const std::string& ckpt = "ckpt") {
  return fs::path(DSVL_TEST_DATA_DIR) / "fixtures" / family / ckpt;
}

ModelConfig Load(const fs::path& dir) {
  auto w = WeightStore::Open(dir.string());
  return LoadModelConfig(dir.string(), *w);
}

TEST(ModelConfig, V1HybridFixture) {
  const ModelConfig c = Load(Fixture("v1_hybrid"));
  EXPECT_EQ(c.family, ModelFamily::kDeepSeekVL);
  EXPECT_EQ(c.llm.prefix, "language_model.");
  EXPECT_EQ(c.llm.hidden_size, 64);
  EXPECT_EQ(c.llm.num_layers, 2);
  EXPECT_EQ(c.llm.num_heads, 4);
  EXPECT_EQ(c.llm.head_dim, 16);
  EXPECT_EQ(c.llm.vocab_size, 512);
  EXPECT_EQ(c.llm.attention, AttentionKind::kMha);
  EXPECT_EQ(c.llm.moe.n_routed_experts, 0);
  ASSERT_TRUE(c.sam.has_value());
  ASSERT_TRUE(c.siglip.has_value());
  // Tiny widths come from tiny_arch.json and the weights, not from the 7B tables.
  EXPECT_EQ(c.sam->width, 48);
  EXPECT_EQ(c.sam->depth, 6);
  EXPECT_EQ(c.sam->heads, 12);
  EXPECT_EQ(c.sam->global_attn_indexes, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(c.sam->neck_channels, 16);
  EXPECT_EQ(c.sam->downsample_channels[0], 32);
  EXPECT_EQ(c.sam->downsample_channels[1], 64);
  EXPECT_EQ(c.sam->image_size, 1024);
  EXPECT_TRUE(c.sam->normalize);  // high_res_cfg has the CLIP pixel_mean
  EXPECT_EQ(c.siglip->prefix, "vision_model.vision_tower_low.vision_tower.");
  EXPECT_EQ(c.siglip->width, 64);
  EXPECT_EQ(c.siglip->layers, 2);
  EXPECT_EQ(c.siglip->heads, 16);
  EXPECT_EQ(c.siglip->mlp_hidden, 256);
  EXPECT_EQ(c.siglip->num_patches(), 576);
  EXPECT_EQ(c.siglip->gelu, GeluKind::kErf);
  EXPECT_TRUE(c.siglip->normalize);  // low_res_cfg pixel_mean 0.5
  EXPECT_FLOAT_EQ(c.siglip->mean[0], 0.5f);
  EXPECT_EQ(c.projector.type, ProjectorType::kLowHighHybridSplitMlpGelu);
  EXPECT_EQ(c.projector.prefix, "aligner.");
  EXPECT_EQ(c.vl1_processor.image_size, 1024);
  EXPECT_FALSE(c.vl1_processor.do_normalize);
  EXPECT_EQ(c.tokens_per_image_vl1, 576);
  EXPECT_EQ(c.torch_dtype, "float32");
}

TEST(ModelConfig, V1SiglipFixture) {
  const ModelConfig c = Load(Fixture("v1_siglip", "ckpt-bf16"));
  EXPECT_EQ(c.family, ModelFamily::kDeepSeekVL);
  EXPECT_FALSE(c.sam.has_value());
  ASSERT_TRUE(c.siglip.has_value());
  EXPECT_EQ(c.siglip->prefix, "vision_model.vision_tower.");
  EXPECT_EQ(c.siglip->layers, 3);
  EXPECT_EQ(c.siglip->heads, 8);
  EXPECT_FALSE(c.siglip->normalize);  // CLIPVisionTower without pixel_mean: the processor normalises
  EXPECT_EQ(c.projector.type, ProjectorType::kMlpGelu);
  EXPECT_EQ(c.vl1_processor.image_size, 384);
  EXPECT_TRUE(c.vl1_processor.do_normalize);
  EXPECT_EQ(c.llm.hidden_size, 96);
  EXPECT_EQ(c.llm.num_heads, 6);
  EXPECT_EQ(c.llm.intermediate_size, 256);
}

TEST(ModelConfig, Vl2Fixtures) {
  const ModelConfig tiny = Load(Fixture("vl2_tiny"));
  EXPECT_EQ(tiny.family, ModelFamily::kDeepSeekVL2);
  EXPECT_EQ(tiny.llm.prefix, "language.");
  EXPECT_EQ(tiny.llm.attention, AttentionKind::kMha);
  EXPECT_EQ(tiny.llm.head_dim, 16);
  EXPECT_EQ(tiny.llm.moe.n_routed_experts, 16);
  EXPECT_EQ(tiny.llm.moe.experts_per_token, 4);
  EXPECT_EQ(tiny.llm.moe.n_shared_experts, 2);
  EXPECT_EQ(tiny.llm.moe.first_k_dense_replace, 1);
  EXPECT_EQ(tiny.llm.moe.topk_method, MoeTopkMethod::kGreedy);
  EXPECT_TRUE(tiny.llm.moe.IsMoeLayer(1));
  EXPECT_FALSE(tiny.llm.moe.IsMoeLayer(0));
  ASSERT_TRUE(tiny.siglip.has_value());
  EXPECT_EQ(tiny.siglip->prefix, "vision.");
  EXPECT_EQ(tiny.siglip->patch_size, 14);
  EXPECT_EQ(tiny.siglip->grid(), 27);
  EXPECT_EQ(tiny.siglip->mlp_hidden, 239);  // int(64 * 3.7362)
  EXPECT_EQ(tiny.siglip->gelu, GeluKind::kTanh);
  EXPECT_EQ(tiny.projector.type, ProjectorType::kDownsampleMlpGelu);
  EXPECT_EQ(tiny.projector.mlp_ratio, 2);
  EXPECT_EQ(tiny.vl2_processor.candidate_resolutions.size(), 23u);
  EXPECT_EQ(tiny.vl2_processor.image_size(), 384);
  EXPECT_TRUE(tiny.vl2_layout.global_view_first);

  const ModelConfig small = Load(Fixture("vl2_small"));
  EXPECT_EQ(small.llm.attention, AttentionKind::kMla);
  EXPECT_EQ(small.llm.mla.q_lora_rank, 0);
  EXPECT_EQ(small.llm.mla.kv_lora_rank, 32);
  EXPECT_EQ(small.llm.moe.topk_method, MoeTopkMethod::kGroupLimitedGreedy);
  EXPECT_EQ(small.llm.moe.n_group, 4);
  EXPECT_EQ(small.llm.moe.topk_group, 2);
  EXPECT_EQ(small.llm.KvValuesPerToken(), 32 + 8);

  const ModelConfig base = Load(Fixture("vl2_base", "ckpt-bf16"));
  EXPECT_EQ(base.llm.mla.q_lora_rank, 48);
  EXPECT_EQ(base.llm.moe.topk_method, MoeTopkMethod::kNoauxTc);
  EXPECT_EQ(base.llm.moe.scoring, MoeScoring::kSigmoid);
  EXPECT_TRUE(base.llm.moe.norm_topk_prob);
  EXPECT_FLOAT_EQ(base.llm.moe.routed_scaling_factor, 2.0f);
}

// The released deepseek-vl2 config.json is sparse: layers, heads and MLA dims come from the defaults
// of configuration_deepseek.py (docs/model-facts.md, 'Config defaults').
TEST(ModelConfig, Vl2SparseConfigTakesOfficialDefaults) {
  const json config = {
      {"model_type", "deepseek_vl_v2"},
      {"candidate_resolutions", {{384, 384}, {384, 768}}},
      {"language_config",
       {{"hidden_size", 2560}, {"intermediate_size", 12288}, {"moe_intermediate_size", 1536},
        {"n_routed_experts", 72}, {"n_shared_experts", 2}, {"num_experts_per_tok", 6},
        {"first_k_dense_replace", 1}, {"q_lora_rank", nullptr}, {"topk_method", "noaux_tc"},
        {"scoring_func", "sigmoid"}, {"n_group", 1}, {"topk_group", 1}, {"norm_topk_prob", true},
        {"routed_scaling_factor", 2.0}, {"vocab_size", 129280}, {"bos_token_id", 0}, {"eos_token_id", 1},
        {"max_position_embeddings", 4096}}},
      {"projector_config", {{"n_embed", 2560}}},
      {"vision_config", {{"model_name", "siglip_so400m_patch14_384"}, {"width", 1152}, {"layers", 27},
                         {"patch_size", 14}, {"mlp_ratio", 3.7362}}}};
  const ModelConfig c = ParseModelConfig("config.json", config, nullptr, nullptr, nullptr);
  EXPECT_EQ(c.llm.num_layers, 30);
  EXPECT_EQ(c.llm.num_heads, 32);
  EXPECT_EQ(c.llm.attention, AttentionKind::kMla);
  EXPECT_EQ(c.llm.mla.q_lora_rank, 0);  // null -> q_proj
  EXPECT_EQ(c.llm.mla.kv_lora_rank, 512);
  EXPECT_EQ(c.llm.mla.qk_rope_head_dim, 64);
  EXPECT_EQ(c.llm.mla.qk_nope_head_dim, 128);
  EXPECT_EQ(c.llm.mla.v_head_dim, 128);
  EXPECT_EQ(c.llm.KvValuesPerToken(), 576);
  EXPECT_EQ(c.llm.moe.moe_layer_freq, 1);
  EXPECT_EQ(c.siglip->heads, 16);
  EXPECT_EQ(c.siglip->mlp_hidden, 4304);
  EXPECT_EQ(c.projector.input_dim, 1152);
  EXPECT_EQ(c.projector.mlp_ratio, 1);
  // q_lora_rank absent (not null) takes the class default 1536.
  json absent = config;
  absent["language_config"].erase("q_lora_rank");
  EXPECT_EQ(ParseModelConfig("config.json", absent, nullptr, nullptr, nullptr).llm.mla.q_lora_rank, 1536);
}

void ExpectError(const json& config, ErrorCode code, const std::string& needle) {
  try {
    ParseModelConfig("bad/config.json", config, nullptr, nullptr, nullptr);
    FAIL() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad/config.json"), std::string::npos) << e.what();
  }
}

json Vl2Base() {
  return {{"model_type", "deepseek_vl_v2"},
          {"candidate_resolutions", {{384, 384}}},
          {"language_config", {{"hidden_size", 64}, {"num_attention_heads", 4}, {"num_key_value_heads", 4}, {"use_mla", false},
                               {"vocab_size", 512}}},
          {"projector_config", {{"n_embed", 64}, {"input_dim", 64}}},
          {"vision_config", {{"width", 64}, {"layers", 2}, {"heads", 4}}}};
}

TEST(ModelConfig, BadConfigsNameTheField) {
  ExpectError(json{{"model_type", "llava"}}, ErrorCode::kUnsupported, "model_type");
  ExpectError(json{{"language_config", json::object()}}, ErrorCode::kCorruptData, "model_type");
  ExpectError(json{{"model_type", "deepseek_vl_v2"}}, ErrorCode::kCorruptData, "language_config");

  json c = Vl2Base();
  c["language_config"]["hidden_size"] = "big";
  ExpectError(c, ErrorCode::kCorruptData, "language_config.hidden_size");
  c = Vl2Base();
  c["language_config"]["hidden_size"] = -5;
  ExpectError(c, ErrorCode::kCorruptData, "language_config.hidden_size");
  c = Vl2Base();
  c["language_config"]["num_attention_heads"] = 5;
  ExpectError(c, ErrorCode::kCorruptData, "num_attention_heads");
  c = Vl2Base();
  c["language_config"]["rope_scaling"] = {{"type", "yarn"}, {"factor", 4}};
  ExpectError(c, ErrorCode::kUnsupported, "rope_scaling");
  c = Vl2Base();
  c["language_config"]["n_routed_experts"] = 8;
  ExpectError(c, ErrorCode::kCorruptData, "num_experts_per_tok");
  c["language_config"]["num_experts_per_tok"] = 2;
  c["language_config"]["topk_method"] = "magic";
  ExpectError(c, ErrorCode::kUnsupported, "topk_method");
  c["language_config"]["topk_method"] = "greedy";
  c["language_config"]["n_group"] = 3;
  ExpectError(c, ErrorCode::kCorruptData, "n_group");
  c = Vl2Base();
  c["candidate_resolutions"] = {{384, 500}};
  ExpectError(c, ErrorCode::kCorruptData, "candidate_resolutions");
  c = Vl2Base();
  c["projector_config"]["n_embed"] = 32;
  ExpectError(c, ErrorCode::kCorruptData, "n_embed");
  c = Vl2Base();
  c["vision_config"]["heads"] = 5;
  ExpectError(c, ErrorCode::kCorruptData, "vision_config.heads");
  c = Vl2Base();
  c["language_config"]["hidden_act"] = "gelu";
  ExpectError(c, ErrorCode::kUnsupported, "hidden_act");

  json v1 = {{"model_type", "multi_modality"},
             {"language_config", {{"hidden_size", 64}, {"num_attention_heads", 4}}},
             {"vision_config", {{"cls", "ResNetTower"}, {"params", json::object()}}}};
  ExpectError(v1, ErrorCode::kUnsupported, "vision_config.cls");
}

TEST(ModelConfig, MissingOrCorruptFiles) {
  const fs::path dir = fs::temp_directory_path() / "dsvl_model_config_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(Fixture("vl2_tiny") / "model.safetensors", dir / "model.safetensors");
  auto w = WeightStore::Open(dir.string());
  try {
    LoadModelConfig(dir.string(), *w);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos);
  }
  std::ofstream(dir / "config.json") << "{\"model_type\": \"deepseek_vl_v2\", ";
  try {
    LoadModelConfig(dir.string(), *w);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptData);
    EXPECT_NE(std::string(e.what()).find("valid JSON"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsvl
