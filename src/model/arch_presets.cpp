// Numbers: docs/model-facts.md, 'Released models' (DeepSeek-VL, VL2 LLM, VL2 vision/projector) and
// 'VL2 prompt and special tokens' (VL2 special-token ids); key structure:
// tests/data/fixtures/*/ckpt/config.json (written by the official classes). Tiny presets keep every
// structural choice of the real model (MHA vs MLA, q_lora, routing method, scoring) and shrink the
// widths to fixture size.
#include "model/arch_presets.h"

#include "dsvl/error.h"

namespace dsvl {
namespace {

using ojson = nlohmann::ordered_json;

const char* const kBos = "<｜begin▁of▁sentence｜>";
const char* const kEos = "<｜end▁of▁sentence｜>";
const char* const kPad = "<｜▁pad▁｜>";
// DeepSeek-VL2 processor tokens after <image>, in registration order
// (docs/model-facts.md, 'VL2 prompt and special tokens').
const char* const kVl2Tokens[] = {"<image>",  "<|ref|>",       "<|/ref|>", "<|det|>",
                                  "<|/det|>", "<|grounding|>", "<|User|>", "<|Assistant|>"};

const char* TorchDtype(DType dtype) { return dtype == DType::kF32 ? "float32" : "bfloat16"; }

ojson Triple(double a, double b, double c) { return ojson::array({a, b, c}); }
const ojson kClipMean = Triple(0.48145466, 0.4578275, 0.40821073);
const ojson kClipStd = Triple(0.26862954, 0.26130258, 0.27577711);
const ojson kHalf = Triple(0.5, 0.5, 0.5);

ojson CandidateResolutions() {
  // All (384m, 384n) with m*n <= 9, in the released order (docs/model-facts.md, 'VL2 dynamic tiling').
  static const int kPairs[][2] = {{384, 384},  {384, 768},  {768, 384},  {384, 1152}, {1152, 384},
                                  {384, 1536}, {1536, 384}, {768, 768},  {384, 1920}, {1920, 384},
                                  {384, 2304}, {2304, 384}, {768, 1152}, {1152, 768}, {384, 2688},
                                  {2688, 384}, {384, 3072}, {3072, 384}, {768, 1536}, {1536, 768},
                                  {384, 3456}, {3456, 384}, {1152, 1152}};
  ojson list = ojson::array();
  for (const auto& p : kPairs) list.push_back(ojson::array({p[0], p[1]}));
  return list;
}

ojson TokenizerConfig(const std::string& pad, int64_t max_length) {
  ojson t;
  t["add_bos_token"] = true;
  t["add_eos_token"] = false;
  t["bos_token"] = kBos;
  t["eos_token"] = kEos;
  t["pad_token"] = pad;
  t["clean_up_tokenization_spaces"] = false;
  t["legacy"] = true;
  t["model_max_length"] = max_length;
  t["tokenizer_class"] = "LlamaTokenizerFast";
  t["unk_token"] = nullptr;
  return t;
}

// ---------------------------------------------------------------------------------------------
// DeepSeek-VL (multi_modality)

struct Vl1Dims {
  int64_t hidden, intermediate, layers, heads, vocab, bos, eos, max_positions;
  int64_t aligner_input, aligner_embed;
};

ojson Vl1LanguageConfig(const Vl1Dims& d, DType dtype) {
  ojson l;
  l["architectures"] = ojson::array({"LlamaForCausalLM"});
  l["bos_token_id"] = d.bos;
  l["eos_token_id"] = d.eos;
  l["hidden_act"] = "silu";
  l["hidden_size"] = d.hidden;
  l["initializer_range"] = 0.02;
  l["intermediate_size"] = d.intermediate;
  l["max_position_embeddings"] = d.max_positions;
  l["model_type"] = "llama";
  l["num_attention_heads"] = d.heads;
  l["num_hidden_layers"] = d.layers;
  l["num_key_value_heads"] = d.heads;
  l["pretraining_tp"] = 1;
  l["rms_norm_eps"] = 1e-06;
  l["rope_scaling"] = nullptr;
  l["rope_theta"] = 10000.0;
  l["tie_word_embeddings"] = false;
  l["torch_dtype"] = TorchDtype(dtype);
  l["use_cache"] = true;
  l["vocab_size"] = d.vocab;
  return l;
}

ojson Vl1TowerCfg(int64_t image_size, const char* model_name, int64_t output_dim, const ojson& mean,
                  const ojson& std) {
  ojson c;
  c["ckpt_path"] = "";
  c["image_size"] = image_size;
  c["model_name"] = model_name;
  c["output_dim"] = output_dim;
  c["pixel_mean"] = mean;
  c["pixel_std"] = std;
  c["select_feature"] = "same";
  c["select_layer"] = -1;
  return c;
}

ojson Vl1Config(bool hybrid, const Vl1Dims& d, int64_t output_dim, DType dtype) {
  ojson params;
  params["depth"] = 2;
  params["input_dim"] = d.aligner_input;
  params["n_embed"] = d.aligner_embed;
  params["projector_type"] = hybrid ? "low_high_hybrid_split_mlp_gelu" : "mlp_gelu";
  ojson vision_params;
  if (hybrid) {
    vision_params["concat_type"] = "tuple";
    vision_params["freeze_high"] = true;
    vision_params["freeze_low"] = true;
    vision_params["high_res_cfg"] =
        Vl1TowerCfg(1024, "sam_b_downsample", output_dim, kClipMean, kClipStd);
    vision_params["low_res_cfg"] =
        Vl1TowerCfg(384, "siglip_large_patch16_384", output_dim, kHalf, kHalf);
  } else {
    // The 1.3B CLIPVisionTower has no pixel_mean: the processor normalises
    // (docs/model-facts.md, 'VL1 image preprocessing').
    vision_params["image_size"] = 384;
    vision_params["model_name"] = "siglip_large_patch16_384";
    vision_params["select_feature"] = "same";
    vision_params["select_layer"] = -1;
  }
  ojson c;
  c["aligner_config"] = {{"cls", "MlpProjector"}, {"model_type", "aligner"}, {"params", params}};
  c["architectures"] = ojson::array({"MultiModalityCausalLM"});
  c["language_config"] = Vl1LanguageConfig(d, dtype);
  c["model_type"] = "multi_modality";
  c["torch_dtype"] = TorchDtype(dtype);
  c["transformers_version"] = "4.38.2";
  c["vision_config"] = {{"cls", hybrid ? "HybridVisionTower" : "CLIPVisionTower"},
                        {"model_type", "vision"},
                        {"params", vision_params}};
  return c;
}

ojson Vl1Preprocessor(bool hybrid) {
  // 7B: 1024 px, rescale only (each tower normalises itself); 1.3B: 384 px, SigLIP normalisation in
  // the processor (docs/model-facts.md, 'VL1 image preprocessing'; fixtures v1_hybrid / v1_siglip).
  ojson p;
  p["background_color"] = hybrid ? ojson::array({122, 116, 104}) : ojson::array({127, 127, 127});
  p["do_normalize"] = !hybrid;
  p["image_mean"] = hybrid ? kClipMean : kHalf;
  p["image_processor_type"] = "VLMImageProcessor";
  p["image_size"] = hybrid ? 1024 : 384;
  p["image_std"] = hybrid ? kClipStd : kHalf;
  p["min_size"] = 14;
  p["processor_class"] = "VLChatProcessor";
  p["rescale_factor"] = 0.00392156862745098;
  return p;
}

ojson Vl1ChatProcessor() {
  ojson p;
  p["add_special_token"] = false;
  p["ignore_id"] = -100;
  p["image_tag"] = "<image_placeholder>";
  p["mask_prompt"] = true;
  p["num_image_tokens"] = 576;
  p["processor_class"] = "VLChatProcessor";
  p["sft_format"] = "deepseek";
  return p;
}

ojson Vl1TinyArch(bool hybrid) {
  // The official code sizes towers from tables keyed by model name; tiny checkpoints patch them.
  ojson siglip;
  siglip["image_size"] = 384;
  siglip["patch_size"] = 16;
  siglip["width"] = 64;
  siglip["layers"] = hybrid ? 2 : 3;
  siglip["heads"] = hybrid ? 4 : 8;
  siglip["mlp_ratio"] = 4;
  siglip["global_pool"] = "map";
  siglip["use_checkpoint"] = false;
  ojson t;
  if (hybrid) {
    ojson sam;
    sam["width"] = 48;
    sam["layers"] = 6;
    sam["heads"] = 12;
    sam["global_attn_indexes"] = ojson::array({2, 5});
    sam["downsample_channels"] = ojson::array({32, 64});
    sam["prompt_embed_dim"] = 16;
    t["sam_b_downsample"] = sam;
  }
  t["siglip_large_patch16_384"] = siglip;
  return t;
}

ArchPreset Vl1Preset(const std::string& arch, bool hybrid, bool tiny, bool real_ids, DType dtype) {
  ArchPreset p;
  p.arch = arch;
  p.family = ModelFamily::kDeepSeekVL;
  p.tiny = tiny;
  p.tokenizer_style = PreTokenizerStyle::kDeepSeekLlm;
  // Real ids: DeepSeek-LLM vocabulary, BOS 100000, EOS 100001, <image_placeholder> 100015.
  const int64_t bos = real_ids ? 100000 : 500;
  const int64_t eos = bos + 1;
  const int64_t image = real_ids ? 100015 : 502;
  p.specials = {{kBos, bos}, {kEos, eos}, {"<image_placeholder>", image}};
  if (real_ids) {
    // DeepSeek-LLM's 13 single-character added tokens (not special) sit between EOS and the
    // placeholder (tests/data/tokenizers/deepseek-llm/README.md).
    const char* const chars[] = {"ø", "ö", "ú", "ÿ", "õ", "÷", "û", "ý", "À", "ù", "Á", "þ", "ü"};
    for (int i = 0; i < 13; ++i) p.specials.push_back({chars[i], eos + 1 + i, /*special=*/false});
  }
  p.vocab_size = real_ids ? 102400 : 512;
  p.tokenizer_vocab_end = real_ids ? 100000 : 500;
  Vl1Dims d{};
  int64_t output_dim = 1024;
  if (!tiny) {
    d = hybrid ? Vl1Dims{4096, 11008, 30, 32, p.vocab_size, bos, eos, 16384, 1024, 4096}
               : Vl1Dims{2048, 5632, 24, 16, p.vocab_size, bos, eos, 16384, 1024, 2048};
  } else {
    // Fixture sizes (tests/data/fixtures/v1_hybrid, v1_siglip).
    d = hybrid ? Vl1Dims{64, 160, 2, 4, p.vocab_size, bos, eos, 4096, 64, 64}
               : Vl1Dims{96, 256, 2, 6, p.vocab_size, bos, eos, 4096, 64, 96};
    output_dim = 64;
    p.tiny_arch = Vl1TinyArch(hybrid);
  }
  p.config = Vl1Config(hybrid, d, output_dim, dtype);
  p.preprocessor = Vl1Preprocessor(hybrid);
  p.processor = Vl1ChatProcessor();
  p.tokenizer_config = TokenizerConfig(kEos, tiny ? 4096 : 16384);  // pad = EOS
  return p;
}

// ---------------------------------------------------------------------------------------------
// DeepSeek-VL2 (deepseek_vl_v2)

struct Vl2Dims {
  int64_t hidden = 0, intermediate = 0, moe_intermediate = 0, experts = 0;
  int64_t shared = 2, top_k = 6, layers = 0, heads = 0;
  bool mla = true;
  // MLA (ignored when !mla); q_lora 0 = null (no released VL2 uses q_lora).
  int64_t q_lora = 0, kv_lora = 512, qk_nope = 128, qk_rope = 64, v_head = 128;
  const char* topk_method = "greedy";
  const char* scoring = "softmax";
  bool norm_topk = false;
  double scaling = 1.0;
  int64_t vision_width = 1152, vision_layers = 27, vision_heads = 16;  // SigLIP-SO400M
};

ojson Vl2LanguageConfig(const Vl2Dims& d, int64_t vocab, int64_t bos, int64_t eos, DType dtype) {
  ojson l;
  l["architectures"] = ojson::array({"DeepseekV2ForCausalLM"});
  l["bos_token_id"] = bos;
  l["eos_token_id"] = eos;
  l["first_k_dense_replace"] = 1;
  l["hidden_act"] = "silu";
  l["hidden_size"] = d.hidden;
  l["intermediate_size"] = d.intermediate;
  l["lm_head"] = true;
  l["max_position_embeddings"] = 4096;
  l["model_type"] = "deepseek_v2";
  l["moe_intermediate_size"] = d.moe_intermediate;
  l["moe_layer_freq"] = 1;
  l["n_routed_experts"] = d.experts;
  l["n_shared_experts"] = d.shared;
  l["num_attention_heads"] = d.heads;
  l["num_experts_per_tok"] = d.top_k;
  l["num_hidden_layers"] = d.layers;
  l["num_key_value_heads"] = d.heads;
  l["rm_head"] = false;
  l["rms_norm_eps"] = 1e-06;
  l["rope_scaling"] = nullptr;
  l["rope_theta"] = 10000.0;
  l["tie_word_embeddings"] = false;
  l["torch_dtype"] = TorchDtype(dtype);
  l["use_cache"] = true;
  l["vocab_size"] = vocab;
  l["use_mla"] = d.mla;
  l["q_lora_rank"] = d.q_lora > 0 ? ojson(d.q_lora) : ojson(nullptr);
  l["kv_lora_rank"] = d.mla ? ojson(d.kv_lora) : ojson(nullptr);
  l["qk_nope_head_dim"] = d.mla ? d.qk_nope : 0;
  l["qk_rope_head_dim"] = d.mla ? d.qk_rope : 0;
  l["v_head_dim"] = d.mla ? d.v_head : 0;
  l["topk_method"] = d.topk_method;
  l["n_group"] = 1;
  l["topk_group"] = 1;
  l["scoring_func"] = d.scoring;
  l["norm_topk_prob"] = d.norm_topk;
  l["routed_scaling_factor"] = d.scaling;
  return l;
}

ojson Vl2Config(const Vl2Dims& d, int64_t vocab, int64_t bos, int64_t eos, DType dtype) {
  ojson projector;
  projector["depth"] = 2;
  projector["downsample_ratio"] = 2;
  projector["input_dim"] = d.vision_width;
  projector["mlp_ratio"] = 1;
  projector["model_type"] = "mlp_projector";
  projector["n_embed"] = d.hidden;
  projector["projector_type"] = "downsample_mlp_gelu";
  projector["token_pooling"] = false;
  ojson vision;
  vision["class_token"] = false;
  vision["global_pool"] = "map";
  vision["ignore_head"] = true;
  vision["image_size"] = 384;
  vision["layers"] = d.vision_layers;
  vision["mlp_ratio"] = 3.7362;
  vision["model_name"] = "siglip_so400m_patch14_384";
  vision["model_type"] = "vision";
  vision["num_classes"] = 0;
  vision["patch_size"] = 14;
  vision["heads"] = d.vision_heads;
  vision["use_checkpoint"] = false;
  vision["weight_init"] = "skip";
  vision["width"] = d.vision_width;
  ojson c;
  c["architectures"] = ojson::array({"DeepseekVLV2ForCausalLM"});
  c["candidate_resolutions"] = CandidateResolutions();
  c["global_view_pos"] = "head";
  c["language_config"] = Vl2LanguageConfig(d, vocab, bos, eos, dtype);
  c["model_type"] = "deepseek_vl_v2";
  c["projector_config"] = projector;
  c["tile_tag"] = "2D";
  c["torch_dtype"] = TorchDtype(dtype);
  c["transformers_version"] = "4.38.2";
  c["vision_config"] = vision;
  return c;
}

ojson Vl2Processor() {
  ojson p;
  p["add_special_token"] = false;
  p["candidate_resolutions"] = CandidateResolutions();
  p["downsample_ratio"] = 2;
  p["ignore_id"] = -100;
  p["image_mean"] = kHalf;
  p["image_std"] = kHalf;
  p["image_token"] = "<image>";
  p["mask_prompt"] = false;
  p["normalize"] = true;
  p["pad_token"] = kPad;
  p["patch_size"] = 14;
  p["processor_class"] = "DeepseekVLV2Processor";
  p["sft_format"] = "deepseek";
  return p;
}

ArchPreset Vl2Preset(const std::string& arch, bool tiny, bool real_ids, DType dtype) {
  ArchPreset p;
  p.arch = arch;
  p.family = ModelFamily::kDeepSeekVL2;
  p.tiny = tiny;
  const bool small = arch == "deepseek-vl2-small";
  const bool base = arch == "deepseek-vl2";
  // Real ids (docs/model-facts.md, 'VL2 prompt and special tokens'): tiny/base extend the
  // DeepSeek-V3 vocabulary (BOS 0, EOS 1, pad 2, <image> 128815 ...); small uses the DeepSeek-LLM
  // one (BOS 100000, EOS 100001, pad 100002, <image> 100003 ...). Tiny stand-ins: BOS 0, EOS 1,
  // pad 2, <image> 500 ... like the fixtures.
  int64_t bos = 0, first_vl2 = 500;
  if (real_ids) {
    bos = small ? 100000 : 0;
    first_vl2 = small ? 100003 : 128815;
  }
  p.tokenizer_style = small ? PreTokenizerStyle::kDeepSeekLlm : PreTokenizerStyle::kDeepSeekV3;
  const int64_t pad = (real_ids && small) ? 100002 : 2;
  p.specials = {{kBos, bos}, {kEos, bos + 1}, {kPad, pad}};
  for (int i = 0; i < 8; ++i) p.specials.push_back({kVl2Tokens[i], first_vl2 + i});
  p.vocab_size = real_ids ? (small ? 102400 : 129280) : 512;
  p.tokenizer_vocab_end = real_ids ? (small ? 100000 : 128000) : 500;

  // Released numbers (docs/model-facts.md, 'Released models'). Real configs leave most of these to
  // the code's defaults; written out here, so every value is visible in config.json.
  Vl2Dims d;
  if (small) {
    d = {.hidden = 2048,
         .intermediate = 10944,
         .moe_intermediate = 1408,
         .experts = 64,
         .layers = 27,
         .heads = 16,
         .mla = true};
  } else if (base) {
    d = {.hidden = 2560,
         .intermediate = 12288,
         .moe_intermediate = 1536,
         .experts = 72,
         .layers = 30,
         .heads = 32,
         .mla = true,
         .topk_method = "noaux_tc",
         .scoring = "sigmoid",
         .norm_topk = true,
         .scaling = 2.0};
  } else {
    d = {.hidden = 1280,
         .intermediate = 6848,
         .moe_intermediate = 896,
         .experts = 64,
         .layers = 12,
         .heads = 10,
         .mla = false};
  }
  if (tiny) {
    // Same structure (attention kind, routing, scoring), fixture-sized widths.
    d.hidden = 64;
    d.intermediate = 160;
    d.moe_intermediate = 32;
    d.experts = 16;
    d.top_k = 4;
    d.layers = 3;
    d.heads = 4;
    d.kv_lora = 32;
    d.qk_nope = 16;
    d.qk_rope = 8;
    d.v_head = 16;
    d.vision_width = 64;
    d.vision_layers = 2;
    d.vision_heads = 4;
  }
  p.config = Vl2Config(d, p.vocab_size, bos, bos + 1, dtype);
  p.processor = Vl2Processor();
  p.tokenizer_config = TokenizerConfig(kPad, tiny ? 4096 : 16384);
  return p;
}

}  // namespace

const std::vector<std::string>& ArchNames() {
  static const std::vector<std::string> names = {"deepseek-vl-1.3b", "deepseek-vl-7b",
                                                 "deepseek-vl2-tiny", "deepseek-vl2-small",
                                                 "deepseek-vl2"};
  return names;
}

ArchPreset GetArchPreset(const std::string& arch, bool tiny, bool real_token_ids, DType dtype) {
  if (dtype != DType::kBF16 && dtype != DType::kF32) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"make-model", "--dtype", "bf16 or f32", DTypeName(dtype), ""});
  }
  const bool real_ids = real_token_ids || !tiny;
  if (arch == "deepseek-vl-1.3b") return Vl1Preset(arch, false, tiny, real_ids, dtype);
  if (arch == "deepseek-vl-7b") return Vl1Preset(arch, true, tiny, real_ids, dtype);
  if (arch == "deepseek-vl2-tiny" || arch == "deepseek-vl2-small" || arch == "deepseek-vl2") {
    return Vl2Preset(arch, tiny, real_ids, dtype);
  }
  std::string known;
  for (const auto& n : ArchNames()) known += (known.empty() ? "" : ", ") + n;
  Throw(ErrorCode::kInvalidArgument,
        ErrorContext{"make-model", "--arch", "one of " + known, arch, ""});
}

}  // namespace dsvl
