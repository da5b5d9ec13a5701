// language_config -> LlmConfig. Absent keys take the defaults of the Python config class the official
// code instantiates (transformers 4.38 LlamaConfig for DeepSeek-VL; DeepSeek-VL2's own
// configuration_deepseek.py DeepseekV2Config), because the released configs are sparse and rely on them.
#include <string>

#include "model/config_parse.h"

namespace dsvl {
namespace {

int64_t Positive(const ConfigReader& r, const char* key, std::optional<int64_t> fallback) {
  auto v = r.Int(key, fallback);
  if (!v || *v <= 0) r.Fail(key, "a positive integer", v ? std::to_string(*v) : "null");
  return *v;
}

void CheckCommon(const ConfigReader& r, const LlmConfig& c) {
  const std::string act = r.String("hidden_act", "silu").value_or("null");
  if (act != "silu") r.Unsupported("hidden_act", "\"silu\"", "\"" + act + "\"");
  if (r.Bool("tie_word_embeddings", false)) r.Unsupported("tie_word_embeddings", "false", "true");
  if (r.Bool("attention_bias", false)) r.Unsupported("attention_bias", "false", "true");
  if (r.OptionalObject("rope_scaling")) {
    r.Unsupported("rope_scaling", "null (no released DeepSeek-VL/VL2 config sets it)",
                  JsonForMessage(r.value().at("rope_scaling")));
  }
  if (c.rms_norm_eps <= 0.0f) r.Fail("rms_norm_eps", "a positive number", std::to_string(c.rms_norm_eps));
  if (c.rope_theta <= 0.0f) r.Fail("rope_theta", "a positive number", std::to_string(c.rope_theta));
}

// The class defaults that differ between LlamaConfig and DeepseekV2Config; hidden 4096,
// intermediate 11008, 32 heads, 2048 positions, eps 1e-6 and theta 10000 are shared.
struct CommonDefaults {
  const char* prefix;
  int64_t vocab;
  int64_t layers;
  std::optional<int64_t> kv_heads;  // used when the key is absent; null always means "= heads"
  int64_t bos;
  int64_t eos;
};

LlmConfig ReadCommon(const ConfigReader& lc, const CommonDefaults& d) {
  LlmConfig c;
  c.prefix = d.prefix;
  c.vocab_size = Positive(lc, "vocab_size", d.vocab);
  c.hidden_size = Positive(lc, "hidden_size", 4096);
  c.intermediate_size = Positive(lc, "intermediate_size", 11008);
  c.num_layers = Positive(lc, "num_hidden_layers", d.layers);
  c.num_heads = Positive(lc, "num_attention_heads", 32);
  c.num_kv_heads = lc.Int("num_key_value_heads", d.kv_heads).value_or(c.num_heads);
  c.max_position_embeddings = Positive(lc, "max_position_embeddings", 2048);
  c.rms_norm_eps = static_cast<float>(lc.Number("rms_norm_eps", 1e-6).value_or(1e-6));
  c.rope_theta = static_cast<float>(lc.Number("rope_theta", 10000.0).value_or(10000.0));
  c.bos_id = lc.Int("bos_token_id", d.bos).value_or(-1);
  c.eos_id = lc.Int("eos_token_id", d.eos).value_or(-1);
  return c;
}

// Llama attention: heads split hidden_size evenly; kv heads divide the heads (grouped-query).
void SetMhaHeads(const ConfigReader& lc, LlmConfig& c) {
  c.attention = AttentionKind::kMha;
  if (c.hidden_size % c.num_heads != 0) {
    lc.Fail("num_attention_heads", "a divisor of hidden_size " + std::to_string(c.hidden_size),
            std::to_string(c.num_heads));
  }
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0) {
    lc.Fail("num_key_value_heads", "a positive divisor of num_attention_heads " + std::to_string(c.num_heads),
            std::to_string(c.num_kv_heads));
  }
  c.head_dim = c.hidden_size / c.num_heads;
}

}  // namespace

LlmConfig ParseLlamaConfig(const ConfigReader& lc) {
  // transformers 4.38 LlamaConfig; num_key_value_heads absent or None -> num_attention_heads.
  LlmConfig c = ReadCommon(lc, {.prefix = "language_model.", .vocab = 32000, .layers = 32, .kv_heads = std::nullopt,
                                .bos = 1, .eos = 2});
  SetMhaHeads(lc, c);
  CheckCommon(lc, c);
  return c;
}

LlmConfig ParseDeepseekV2Config(const ConfigReader& lc) {
  // configuration_deepseek.py DeepseekV2Config (docs/model-facts.md, 'Config defaults');
  // num_key_value_heads absent -> 32.
  LlmConfig c = ReadCommon(lc, {.prefix = "language.", .vocab = 102400, .layers = 30, .kv_heads = 32,
                                .bos = 100000, .eos = 100001});
  CheckCommon(lc, c);

  // use_mla absent -> True (DeepSeek-VL2 issue #81: only tiny sets it, to false).
  if (lc.Bool("use_mla", true)) {
    c.attention = AttentionKind::kMla;
    // q_lora_rank: absent -> 1536; null -> None (q_proj directly).
    c.mla.q_lora_rank = lc.Int("q_lora_rank", 1536).value_or(0);
    if (c.mla.q_lora_rank < 0) lc.Fail("q_lora_rank", "null or a positive integer", std::to_string(c.mla.q_lora_rank));
    c.mla.kv_lora_rank = Positive(lc, "kv_lora_rank", 512);
    c.mla.qk_nope_head_dim = Positive(lc, "qk_nope_head_dim", 128);
    c.mla.qk_rope_head_dim = Positive(lc, "qk_rope_head_dim", 64);
    c.mla.v_head_dim = Positive(lc, "v_head_dim", 128);
    if (c.mla.qk_rope_head_dim % 2 != 0) {
      lc.Fail("qk_rope_head_dim", "an even number", std::to_string(c.mla.qk_rope_head_dim));
    }
    c.head_dim = c.mla.v_head_dim;
  } else {
    // transformers LlamaAttention built from the DeepseekV2Config (VL2-tiny).
    SetMhaHeads(lc, c);
  }

  MoeConfig& m = c.moe;
  m.n_routed_experts = lc.Int("n_routed_experts", std::nullopt).value_or(0);
  if (m.n_routed_experts < 0) lc.Fail("n_routed_experts", "null or a positive integer", std::to_string(m.n_routed_experts));
  if (m.n_routed_experts > 0) {
    auto k = lc.Int("num_experts_per_tok", std::nullopt);
    if (!k || *k <= 0 || *k > m.n_routed_experts) {
      lc.Fail("num_experts_per_tok", "an integer in [1, n_routed_experts=" + std::to_string(m.n_routed_experts) + "]",
              k ? std::to_string(*k) : "null");
    }
    m.experts_per_token = *k;
    m.n_shared_experts = lc.Int("n_shared_experts", std::nullopt).value_or(0);
    if (m.n_shared_experts < 0) lc.Fail("n_shared_experts", "null or >= 0", std::to_string(m.n_shared_experts));
    m.moe_intermediate_size = Positive(lc, "moe_intermediate_size", 1407);
    m.first_k_dense_replace = lc.Int("first_k_dense_replace", 0).value_or(0);
    m.moe_layer_freq = Positive(lc, "moe_layer_freq", 1);
    m.norm_topk_prob = lc.Bool("norm_topk_prob", false);
    m.routed_scaling_factor = static_cast<float>(lc.Number("routed_scaling_factor", 1.0).value_or(1.0));
    const std::string method = lc.String("topk_method", "gready").value_or("null");
    if (method == "greedy") {
      m.topk_method = MoeTopkMethod::kGreedy;
    } else if (method == "group_limited_greedy") {
      m.topk_method = MoeTopkMethod::kGroupLimitedGreedy;
    } else if (method == "noaux_tc") {
      m.topk_method = MoeTopkMethod::kNoauxTc;
    } else {
      lc.Unsupported("topk_method", "\"greedy\", \"group_limited_greedy\" or \"noaux_tc\"", "\"" + method + "\"");
    }
    const std::string scoring = lc.String("scoring_func", "softmax").value_or("null");
    if (scoring == "softmax") {
      m.scoring = MoeScoring::kSoftmax;
    } else if (scoring == "sigmoid") {
      m.scoring = MoeScoring::kSigmoid;
    } else {
      lc.Unsupported("scoring_func", "\"softmax\" or \"sigmoid\"", "\"" + scoring + "\"");
    }
    m.n_group = lc.Int("n_group", std::nullopt).value_or(1);
    m.topk_group = lc.Int("topk_group", std::nullopt).value_or(1);
    if (m.n_group <= 0 || m.n_routed_experts % m.n_group != 0) {
      lc.Fail("n_group", "a positive divisor of n_routed_experts " + std::to_string(m.n_routed_experts),
              std::to_string(m.n_group));
    }
    if (m.topk_group <= 0 || m.topk_group > m.n_group) {
      lc.Fail("topk_group", "an integer in [1, n_group=" + std::to_string(m.n_group) + "]",
              std::to_string(m.topk_group));
    }
    if (m.topk_method == MoeTopkMethod::kNoauxTc && m.n_routed_experts / m.n_group < 2) {
      lc.Fail("n_group", "at most n_routed_experts / 2 (noaux_tc scores a group by its top 2)",
              std::to_string(m.n_group));
    }
  }
  return c;
}

}  // namespace dsvl
