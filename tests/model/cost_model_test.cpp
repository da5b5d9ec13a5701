// The bench cost model on hand-sized configs: every number below is worked out in the comments.
#include "model/cost_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "io/safetensors.h"

namespace dsvl {
namespace {

// ViT: 32x32 image, patch 16 -> T = 4 patches; D = 8, M = 16, 2 layers.
//   patch embed 2·4·(3·16·16)·8             = 49152
//   per layer   2·4·(4·8·8 + 2·8·16)        = 4096, attention 4·4·4·8 = 512 -> 4608, x2 = 9216
//   total                                    = 58368
TEST(CostModel, VitTowerFlops) {
  VitConfig c;
  c.image_size = 32; c.patch_size = 16; c.width = 8; c.mlp_hidden = 16; c.layers = 2;
  EXPECT_DOUBLE_EQ(VitTowerFlops(c), 58368.0);
  // SigLIP-L/16-384 (DeepSeek-VL): T = 576, D = 1024, M = 4096, 24 layers:
  //   2·576·768·1024 + 24·(2·576·(4·1024² + 2·1024·4096) + 4·576²·1024) = 0.906e9 + 24·(14.50e9 + 1.359e9)
  //   = 0.906e9 + 380.5e9 = 381.4 GFLOP
  VitConfig l;
  l.image_size = 384; l.patch_size = 16; l.width = 1024; l.mlp_hidden = 4096; l.layers = 24;
  EXPECT_NEAR(VitTowerFlops(l) / 1e9, 381.41, 0.01);
}

// SAM: 64x64 image, patch 16 -> 4x4 grid, T = 16; D = 8, M = 16, depth 2, window 2 (4 windows of
// 4 tokens), layer 1 global; neck 4 channels; downsample 4 -> 6 -> 10 channels.
//   patch embed      2·16·768·8                       = 196608
//   linears          2 x 2·16·(4·64 + 2·8·16)         = 32768
//   layer 0 windows  4 x 4·4·4·8                      = 2048
//   layer 1 global   4·16·16·8                        = 8192
//   two necks        2 x (2·16·8·4 + 2·16·36·4)       = 11264
//   downsample convs 2·48²·36·6 + 2·24²·54·10         = 995328 + 622080
//   total                                             = 1868288
TEST(CostModel, SamTowerFlops) {
  SamConfig c;
  c.image_size = 64; c.patch_size = 16; c.width = 8; c.mlp_hidden = 16; c.depth = 2; c.window_size = 2;
  c.global_attn_indexes = {1};
  c.neck_channels = 4;
  c.downsample_channels = {6, 10};
  EXPECT_DOUBLE_EQ(SamTowerFlops(c), 1868288.0);
}

// Decode bytes from a hand-made checkpoint (prefix "language.", vocab 10, hidden 4):
//   embed_tokens [10,4] f32 = 160 bytes  -> one row 16
//   q_proj [4,4] bf16 = 32, shared expert [8,4] bf16 = 64, router gate [4,4] f32 = 64,
//   final norm [4] f32 = 16, lm_head [10,4] bf16 = 80     -> dense 256
//   4 routed experts [8,4] f32 = 128 each, top-2 of 4      -> routed_active 512·2/4 = 256
//   a vision tensor (400 bytes) is not the LLM's           -> total 528
TEST(CostModel, DecodeWeightBytes) {
  std::vector<float> f(64, 0.5f);
  std::vector<uint16_t> h(64, 0x3f00);
  std::vector<TensorToWrite> t;
  t.push_back({"language.model.embed_tokens.weight", TensorView(DType::kF32, Shape{10, 4}, f.data())});
  t.push_back({"language.model.layers.0.self_attn.q_proj.weight", TensorView(DType::kBF16, Shape{4, 4}, h.data())});
  t.push_back({"language.model.layers.0.mlp.shared_experts.up_proj.weight", TensorView(DType::kBF16, Shape{8, 4}, h.data())});
  t.push_back({"language.model.layers.0.mlp.gate.weight", TensorView(DType::kF32, Shape{4, 4}, f.data())});
  t.push_back({"language.model.norm.weight", TensorView(DType::kF32, Shape{4}, f.data())});
  t.push_back({"language.lm_head.weight", TensorView(DType::kBF16, Shape{10, 4}, h.data())});
  for (int e = 0; e < 4; ++e)
    t.push_back({"language.model.layers.0.mlp.experts." + std::to_string(e) + ".up_proj.weight",
                 TensorView(DType::kF32, Shape{8, 4}, f.data())});
  std::vector<float> vis(100, 0.0f);
  t.push_back({"vision.blocks.0.weight", TensorView(DType::kF32, Shape{100}, vis.data())});
  const std::string path =
      (std::filesystem::temp_directory_path() / ("dsvl_cost_" + std::to_string(::getpid()) + ".safetensors")).string();
  WriteSafetensors(path, t);
  std::unique_ptr<WeightStore> store = WeightStore::Open(path);
  std::filesystem::remove(path);

  LlmConfig c;
  c.prefix = "language.";
  c.vocab_size = 10;
  c.moe.n_routed_experts = 4;
  c.moe.experts_per_token = 2;
  const DecodeWeightBytes b = CountDecodeWeightBytes(c, *store);
  EXPECT_EQ(b.embedding_row, 16);
  EXPECT_EQ(b.dense, 256);
  EXPECT_EQ(b.routed_active, 256);
  EXPECT_EQ(b.total(), 528);
}

// KV: 3 layers, MHA with 2 kv heads of 8 -> 32 values per token and layer; 10 tokens:
//   f32 3·10·32·4 = 3840 bytes, bf16 half of it = 1920.
TEST(CostModel, KvBytesRead) {
  LlmConfig c;
  c.attention = AttentionKind::kMha;
  c.num_layers = 3; c.num_kv_heads = 2; c.head_dim = 8;
  EXPECT_EQ(KvBytesRead(c, 10, DType::kF32), 3840);
  EXPECT_EQ(KvBytesRead(c, 10, DType::kBF16), 1920);
}

}  // namespace
}  // namespace dsvl
