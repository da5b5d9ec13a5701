// language_config -> LlmConfig. Absent keys take the defaults of the Python config class the official
// code instantiates (transformers 4.38 LlamaConfig for DeepSeek-VL; DeepSeek-VL2's own
// configuration_deepseek.py DeepseekV2Config), because the released configs are sparse and rely on them.
#include <algorithm>
#include <string>

#include "dsvl/error.h"

#include "model/config_parse.h"

namespace dsvl {
namespace {

namespace lim = config_limits;

void CheckCommon(const ConfigReader& r, const LlmConfig& c) {
  const std::string act = r.String("hidden_act", "silu").value_or("null");
  if (act != "silu") r.Unsupported("hidden_act", "\"silu\"", "\"" + act + "\"");
  if (r.Bool("tie_word_embeddings", false)) r.Unsupported("tie_word_embeddings", "false", "true");
  if (r.Bool("attention_bias", false)) r.Unsupported("attention_bias", "false", "true");
  if (r.OptionalObject("rope_scaling")) {
    r.Unsupported("rope_scaling", "null (no released DeepSeek-VL/VL2 config sets it)",
                  JsonForMessage(r.value().at("rope_scaling")));
  }
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
  c.vocab_size = lc.BoundedInt("vocab_size", d.vocab, lim::kVocabSize);
  c.hidden_size = lc.BoundedInt("hidden_size", 4096, lim::kHiddenSize);
  c.intermediate_size = lc.BoundedInt("intermediate_size", 11008, lim::kIntermediateSize);
  c.num_layers = lc.BoundedInt("num_hidden_layers", d.layers, lim::kNumLayers);
  c.num_heads = lc.BoundedInt("num_attention_heads", 32, lim::kNumHeads);
  c.num_kv_heads = lc.Int("num_key_value_heads", d.kv_heads).value_or(c.num_heads);
  c.max_position_embeddings = lc.BoundedInt("max_position_embeddings", 2048, lim::kMaxPositions);
  c.rms_norm_eps = static_cast<float>(lc.PositiveNumber("rms_norm_eps", 1e-6, lim::kMaxRmsNormEps));
  c.rope_theta = static_cast<float>(lc.PositiveNumber("rope_theta", 10000.0, lim::kMaxRopeTheta));
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

// The language model's weight count as the config states it, in floating point (the widths are
// bounded one by one, but their products are what a hostile config would use to overflow).
double EstimateParameters(const LlmConfig& c) {
  const double h = static_cast<double>(c.hidden_size);
  double attention = 4.0 * h * h;  // MHA: q, k, v, o (at most; GQA makes k and v smaller)
  if (c.attention == AttentionKind::kMla) {
    const double heads = static_cast<double>(c.num_heads);
    const double qk = static_cast<double>(c.mla.qk_nope_head_dim + c.mla.qk_rope_head_dim);
    const double q_in = c.mla.q_lora_rank > 0 ? static_cast<double>(c.mla.q_lora_rank) : h;
    attention = (c.mla.q_lora_rank > 0 ? h * q_in : 0.0) + q_in * heads * qk +
                h * static_cast<double>(c.mla.kv_lora_rank + c.mla.qk_rope_head_dim) +
                static_cast<double>(c.mla.kv_lora_rank) * heads *
                    static_cast<double>(c.mla.qk_nope_head_dim + c.mla.v_head_dim) +
                heads * static_cast<double>(c.mla.v_head_dim) * h;
  }
  const double dense_ffn = 3.0 * h * static_cast<double>(c.intermediate_size);
  const double moe_ffn = 3.0 * h * static_cast<double>(c.moe.moe_intermediate_size) *
                         static_cast<double>(c.moe.n_routed_experts + c.moe.n_shared_experts);
  const double ffn = std::max(dense_ffn, moe_ffn);
  return static_cast<double>(c.num_layers) * (attention + ffn) + 2.0 * static_cast<double>(c.vocab_size) * h;
}

void CheckTotals(const ConfigReader& lc, const LlmConfig& c) {
  const int64_t layer_experts = c.num_layers * c.moe.n_routed_experts;  // both bounded: no overflow
  if (layer_experts > lim::kMaxLayerExperts) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{lc.file(), lc.Path("num_hidden_layers") + " x n_routed_experts",
                       "at most " + std::to_string(lim::kMaxLayerExperts),
                       std::to_string(c.num_layers) + " x " + std::to_string(c.moe.n_routed_experts) + " = " +
                           std::to_string(layer_experts),
                       "(dsvl limit, see docs/limits.md)"});
  }
  const double params = EstimateParameters(c);
  if (params > lim::kMaxLanguageParameters) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{lc.file(), lc.Path("(language model size)"),
                       "at most 2^41 parameters", JsonForMessage(params) + " parameters from the stated widths",
                       "(dsvl limit, see docs/limits.md)"});
  }
}

}  // namespace

LlmConfig ParseLlamaConfig(const ConfigReader& lc) {
  // transformers 4.38 LlamaConfig; num_key_value_heads absent or None -> num_attention_heads.
  LlmConfig c = ReadCommon(lc, {.prefix = "language_model.", .vocab = 32000, .layers = 32, .kv_heads = std::nullopt,
                                .bos = 1, .eos = 2});
  SetMhaHeads(lc, c);
  CheckCommon(lc, c);
  CheckTotals(lc, c);
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
    if (c.mla.q_lora_rank > 0) lc.CheckRange("q_lora_rank", c.mla.q_lora_rank, lim::kLoraRank);
    c.mla.kv_lora_rank = lc.BoundedInt("kv_lora_rank", 512, lim::kLoraRank);
    c.mla.qk_nope_head_dim = lc.BoundedInt("qk_nope_head_dim", 128, lim::kHeadDim);
    c.mla.qk_rope_head_dim = lc.BoundedInt("qk_rope_head_dim", 64, lim::kHeadDim);
    c.mla.v_head_dim = lc.BoundedInt("v_head_dim", 128, lim::kHeadDim);
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
  lc.CheckRange("n_routed_experts", m.n_routed_experts, lim::kRoutedExperts);
  if (m.n_routed_experts > 0) {
    auto k = lc.Int("num_experts_per_tok", std::nullopt);
    if (!k || *k <= 0 || *k > m.n_routed_experts) {
      lc.Fail("num_experts_per_tok", "an integer in [1, n_routed_experts=" + std::to_string(m.n_routed_experts) + "]",
              k ? std::to_string(*k) : "null");
    }
    m.experts_per_token = *k;
    lc.CheckRange("num_experts_per_tok", m.experts_per_token, lim::kExpertsPerToken);
    m.n_shared_experts = lc.Int("n_shared_experts", std::nullopt).value_or(0);
    if (m.n_shared_experts < 0) lc.Fail("n_shared_experts", "null or >= 0", std::to_string(m.n_shared_experts));
    lc.CheckRange("n_shared_experts", m.n_shared_experts, lim::kSharedExperts);
    m.moe_intermediate_size = lc.BoundedInt("moe_intermediate_size", 1407, lim::kMoeIntermediateSize);
    // Layer indexes: consistency with num_hidden_layers, not a dsvl limit.
    m.first_k_dense_replace = lc.Int("first_k_dense_replace", 0).value_or(0);
    if (m.first_k_dense_replace < 0 || m.first_k_dense_replace > c.num_layers) {
      lc.Fail("first_k_dense_replace", "an integer in [0, num_hidden_layers=" + std::to_string(c.num_layers) + "]",
              std::to_string(m.first_k_dense_replace));
    }
    m.moe_layer_freq = lc.Int("moe_layer_freq", 1).value_or(1);
    if (m.moe_layer_freq < 1 || m.moe_layer_freq > c.num_layers) {
      lc.Fail("moe_layer_freq", "an integer in [1, num_hidden_layers=" + std::to_string(c.num_layers) + "]",
              std::to_string(m.moe_layer_freq));
    }
    m.norm_topk_prob = lc.Bool("norm_topk_prob", false);
    // DeepseekV2Config defaults 0.001 / True (no released VL2 config.json sets them).
    const double alpha = lc.Number("aux_loss_alpha", 0.001).value_or(-1.0);
    if (!(alpha >= 0.0 && alpha <= 1e3)) lc.Fail("aux_loss_alpha", "a number in [0, 1000]", JsonForMessage(alpha));
    m.aux_loss_alpha = static_cast<float>(alpha);
    m.seq_aux = lc.Bool("seq_aux", true);
    m.routed_scaling_factor =
        static_cast<float>(lc.PositiveNumber("routed_scaling_factor", 1.0, lim::kMaxRoutedScalingFactor));
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
  CheckTotals(lc, c);
  return c;
}

}  // namespace dsvl
