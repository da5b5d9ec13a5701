// Builds small random checkpoints for the language-model unit tests: tensors are written with
// WriteSafetensors into a temp file and opened through WeightStore, exactly like a real checkpoint.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/tensor.h"
#include "io/safetensors.h"
#include "llm/language_model.h"
#include "llm/llm_config.h"

namespace dsvl::test {

class TinyCheckpoint {
 public:
  explicit TinyCheckpoint(uint32_t seed = 1) : rng_(seed) {}

  // Uniform(-scale, scale) values.
  void Random(const std::string& name, Shape shape, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float>& v = Add(name, shape);
    for (float& x : v) x = u(rng_);
  }
  // 1 + Uniform(-0.1, 0.1): norm weights.
  void Norm(const std::string& name, int64_t n) {
    std::uniform_real_distribution<float> u(-0.1f, 0.1f);
    std::vector<float>& v = Add(name, Shape{n});
    for (float& x : v) x = 1.0f + u(rng_);
  }
  std::vector<float>& Add(const std::string& name, Shape shape) {
    order_.push_back(name);
    shapes_[name] = shape;
    std::vector<float>& v = data_[name];
    v.assign(static_cast<size_t>(shape.numel()), 0.0f);
    return v;
  }
  const std::vector<float>& data(const std::string& name) const { return data_.at(name); }

  // Rounds every value to bf16 (so that an f32 and a bf16 file of this checkpoint hold the same weights).
  void RoundToBf16() {
    for (auto& [name, v] : data_)
      for (float& x : v) x = ::dsvl::RoundToBf16(x);
  }

  // Writes the file (f32, or bf16 rounding to nearest) and opens it; the file is removed when the
  // store is.
  std::unique_ptr<WeightStore> Open(const std::string& tag, DType dtype = DType::kF32) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("dsvl_llm_" + tag + "_" + std::to_string(::getpid()) + ".safetensors")).string();
    std::vector<TensorToWrite> tensors;
    std::vector<std::vector<uint16_t>> halves;
    halves.reserve(order_.size());
    for (const std::string& name : order_) {
      const std::vector<float>& v = data_.at(name);
      if (dtype == DType::kBF16) {
        halves.emplace_back(v.size());
        for (size_t i = 0; i < v.size(); ++i) halves.back()[i] = F32ToBf16(v[i]);
        tensors.push_back({name, TensorView(DType::kBF16, shapes_.at(name), halves.back().data())});
      } else {
        tensors.push_back({name, TensorView(DType::kF32, shapes_.at(name), v.data())});
      }
    }
    WriteSafetensors(path, tensors);
    std::unique_ptr<WeightStore> store = WeightStore::Open(path);
    std::filesystem::remove(path);  // the mmap keeps the data alive
    return store;
  }

  // Every tensor of a decoder with this config (names as in the official checkpoints).
  void AddDecoder(const LlmConfig& c) {
    const std::string& p = c.prefix;
    const int64_t H = c.hidden_size;
    Random(p + "model.embed_tokens.weight", Shape{c.vocab_size, H}, 1.0f);
    Norm(p + "model.norm.weight", H);
    Random(p + "lm_head.weight", Shape{c.vocab_size, H}, 0.3f);
    const float wscale = 0.6f / std::sqrt(static_cast<float>(H));
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string lp = p + "model.layers." + std::to_string(l) + ".";
      Norm(lp + "input_layernorm.weight", H);
      Norm(lp + "post_attention_layernorm.weight", H);
      const std::string a = lp + "self_attn.";
      if (c.attention == AttentionKind::kMha) {
        Random(a + "q_proj.weight", Shape{c.num_heads * c.head_dim, H}, wscale);
        Random(a + "k_proj.weight", Shape{c.num_kv_heads * c.head_dim, H}, wscale);
        Random(a + "v_proj.weight", Shape{c.num_kv_heads * c.head_dim, H}, wscale);
        Random(a + "o_proj.weight", Shape{H, c.num_heads * c.head_dim}, wscale);
      } else {
        AddMla(c, a);
      }
      const std::string m = lp + "mlp.";
      if (c.moe.IsMoeLayer(l)) {
        const int64_t E = c.moe.n_routed_experts, I = c.moe.moe_intermediate_size;
        Random(m + "gate.weight", Shape{E, H}, 1.0f);
        if (c.moe.topk_method == MoeTopkMethod::kNoauxTc) Random(m + "gate.e_score_correction_bias", Shape{E}, 0.3f);
        for (int64_t e = 0; e < E; ++e) AddMlp(m + "experts." + std::to_string(e) + ".", H, I);
        if (c.moe.n_shared_experts > 0) AddMlp(m + "shared_experts.", H, I * c.moe.n_shared_experts);
      } else {
        AddMlp(m, H, c.intermediate_size);
      }
    }
  }
  void AddMla(const LlmConfig& c, const std::string& a) {
    const int64_t H = c.hidden_size, nh = c.num_heads;
    const MlaConfig& m = c.mla;
    const float wscale = 0.6f / std::sqrt(static_cast<float>(H));
    if (m.q_lora_rank > 0) {
      Random(a + "q_a_proj.weight", Shape{m.q_lora_rank, H}, wscale);
      Norm(a + "q_a_layernorm.weight", m.q_lora_rank);
      Random(a + "q_b_proj.weight", Shape{nh * (m.qk_nope_head_dim + m.qk_rope_head_dim), m.q_lora_rank},
             0.6f / std::sqrt(static_cast<float>(m.q_lora_rank)));
    } else {
      Random(a + "q_proj.weight", Shape{nh * (m.qk_nope_head_dim + m.qk_rope_head_dim), H}, wscale);
    }
    Random(a + "kv_a_proj_with_mqa.weight", Shape{m.kv_lora_rank + m.qk_rope_head_dim, H}, wscale);
    Norm(a + "kv_a_layernorm.weight", m.kv_lora_rank);
    Random(a + "kv_b_proj.weight", Shape{nh * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank},
           0.6f / std::sqrt(static_cast<float>(m.kv_lora_rank)));
    Random(a + "o_proj.weight", Shape{H, nh * m.v_head_dim}, wscale);
  }
  void AddMlp(const std::string& m, int64_t H, int64_t I) {
    Random(m + "gate_proj.weight", Shape{I, H}, 1.0f / std::sqrt(static_cast<float>(H)));
    Random(m + "up_proj.weight", Shape{I, H}, 1.0f / std::sqrt(static_cast<float>(H)));
    Random(m + "down_proj.weight", Shape{H, I}, 1.0f / std::sqrt(static_cast<float>(I)));
  }

 private:
  std::mt19937 rng_;
  std::vector<std::string> order_;
  std::map<std::string, Shape> shapes_;
  std::map<std::string, std::vector<float>> data_;
};

// Small configs mirroring the released families.
inline LlmConfig TinyLlamaConfig() {
  LlmConfig c;
  c.prefix = "language_model.";
  c.vocab_size = 50; c.hidden_size = 32; c.intermediate_size = 48; c.num_layers = 2;
  c.num_heads = 4; c.num_kv_heads = 2; c.head_dim = 8;
  return c;
}
inline LlmConfig TinyMlaMoeConfig(int64_t q_lora_rank) {
  LlmConfig c;
  c.prefix = "language.";
  c.vocab_size = 50; c.hidden_size = 32; c.intermediate_size = 48; c.num_layers = 3;
  c.num_heads = 4; c.num_kv_heads = 4;
  c.attention = AttentionKind::kMla;
  c.mla = MlaConfig{q_lora_rank, 16, 8, 4, 8};
  c.moe.n_routed_experts = 8; c.moe.n_shared_experts = 2; c.moe.experts_per_token = 3;
  c.moe.moe_intermediate_size = 12; c.moe.first_k_dense_replace = 1;
  c.moe.topk_method = MoeTopkMethod::kNoauxTc; c.moe.scoring = MoeScoring::kSigmoid;
  c.moe.n_group = 4; c.moe.topk_group = 2; c.moe.norm_topk_prob = true; c.moe.routed_scaling_factor = 2.0f;
  return c;
}

// The three decoder shapes the llm tests run: 0 Llama GQA, 1 MLA + noaux_tc MoE, 2 MLA with q_lora
// + greedy softmax MoE.
inline LlmConfig TinyDecoderVariant(int variant) {
  switch (variant) {
    case 0: return TinyLlamaConfig();
    case 1: return TinyMlaMoeConfig(0);
    default: {
      LlmConfig c = TinyMlaMoeConfig(12);
      c.moe.topk_method = MoeTopkMethod::kGreedy;
      c.moe.scoring = MoeScoring::kSoftmax;
      c.moe.norm_topk_prob = false;
      c.moe.routed_scaling_factor = 1.0f;
      return c;
    }
  }
}

// Embeddings [n, hidden] of n random token ids drawn with `seed`.
inline std::vector<float> RandomEmbeds(const LanguageModel& lm, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> id(0, lm.config().vocab_size - 1);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t& v : ids) v = id(rng);
  std::vector<float> e(static_cast<size_t>(n * lm.config().hidden_size));
  lm.Embed(ids.data(), n, e.data());
  return e;
}

// A decoder over a fresh tiny checkpoint (weights seeded 11), with the store that owns its weights.
struct BuiltDecoder {
  std::unique_ptr<WeightStore> weights;
  std::unique_ptr<LanguageModel> lm;
};
inline BuiltDecoder BuildDecoder(const LlmConfig& c, const std::string& tag) {
  TinyCheckpoint ck(11);
  ck.AddDecoder(c);
  BuiltDecoder b;
  b.weights = ck.Open(tag);
  b.lm = CreateLanguageModel(c, *b.weights);
  return b;
}

}  // namespace dsvl::test
