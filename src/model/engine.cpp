#include "model/engine.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "io/image_decode.h"
#include "kernels/isa.h"
#include "io/image_encode.h"
#include "model/draw_boxes.h"
#include "model/generator.h"
#include "model/grounding.h"
#include "model/image_hash.h"
#include "model/decode_layout.h"
#include "model/quantize.h"

namespace dsvl {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void Report(const ProgressCallback& cb, const char* stage, int64_t done, int64_t total) {
  if (cb) cb(Progress{stage, done, total});
}

constexpr int64_t kDefaultChunk = 512;
constexpr int64_t kDefaultMaxContext = 4096;
// The template stop string of both families' official chat code (conversation.py stop_str).
constexpr const char* kTemplateStop = "User:";

}  // namespace

// ---------------------------------------------------------------------------------------------
// ModelImpl

ModelImpl::ModelImpl(const ModelOptions& options) {
  const auto start = Clock::now();
  namespace fs = std::filesystem;
  std::error_code ec;
  if (options.dir.empty() || !fs::is_directory(options.dir, ec)) {
    Throw(ErrorCode::kNotFound,
          ErrorContext{options.dir.empty() ? "(empty path)" : options.dir, "model directory", "a directory",
                       "not found", ""});
  }
  if (options.precision != Precision::kAuto) kernels::SetBf16Activations(options.precision == Precision::kBf16);
  limits_ = options.limits;
  for (const auto& [name, value] : {std::pair<const char*, int64_t>{"max_image_pixels", limits_.max_image_pixels},
                                    {"max_image_file_bytes", limits_.max_image_file_bytes},
                                    {"max_images", limits_.max_images},
                                    {"max_tokenizer_file_bytes", limits_.max_tokenizer_file_bytes},
                                    {"max_vocab_size", limits_.max_vocab_size}}) {
    if (value <= 0) {
      Throw(ErrorCode::kInvalidArgument, ErrorContext{"ModelOptions", std::string("limits.") + name, "> 0",
                                                      std::to_string(value), ""});
    }
  }
  Report(options.progress, "load", 0, 4);
  pool_ = std::make_unique<ThreadPool>(options.threads);
  weights_ = WeightStore::Open(options.dir);
  config_ = LoadModelConfig(options.dir, *weights_);
  LoadQuantized(options);
  Report(options.progress, "load", 1, 4);
  TokenizerLimits tokenizer_limits;
  tokenizer_limits.max_file_bytes = static_cast<size_t>(limits_.max_tokenizer_file_bytes);
  tokenizer_limits.max_vocab_size = limits_.max_vocab_size;
  tokenizer_ = Tokenizer::Load(options.dir, tokenizer_limits);
  if (config_.family == ModelFamily::kDeepSeekVL2) RegisterVl2SpecialTokens(*tokenizer_);
  Report(options.progress, "load", 2, 4);
  lm_ = CreateLanguageModel(config_.llm, *weights_);
  switch (options.kv_type) {
    case KvCacheType::kF32: lm_->set_kv_dtype(DType::kF32); break;
    case KvCacheType::kBF16: lm_->set_kv_dtype(DType::kBF16); break;
    case KvCacheType::kF16: lm_->set_kv_dtype(DType::kF16); break;
    case KvCacheType::kAuto: break;  // the model's own default
  }
  Report(options.progress, "load", 3, 4);
  if (config_.siglip || config_.sam) embedder_ = CreateImageEmbedder(config_, *weights_);
  Report(options.progress, "load", 4, 4);

  info_.family = config_.family == ModelFamily::kDeepSeekVL ? ModelFamilyId::kDeepSeekVL
                                                             : ModelFamilyId::kDeepSeekVL2;
  info_.dir = options.dir;
  info_.vocab_size = config_.llm.vocab_size;
  info_.hidden_size = config_.llm.hidden_size;
  info_.num_layers = config_.llm.num_layers;
  // Default context: the model's positions, capped at the 4096 tokens both families were trained
  // with (DeepSeek-VL configs say 16384, which would reserve a needlessly large KV cache).
  info_.max_context = options.max_context > 0
                          ? std::min<int64_t>(options.max_context, config_.llm.max_position_embeddings)
                          : std::min<int64_t>(config_.llm.max_position_embeddings, kDefaultMaxContext);
  info_.bos_id = tokenizer_->bos_id() >= 0 ? tokenizer_->bos_id() : config_.llm.bos_id;
  info_.eos_id = tokenizer_->eos_id() >= 0 ? tokenizer_->eos_id() : config_.llm.eos_id;
  info_.image_token_id =
      config_.image_token_id >= 0 ? config_.image_token_id : tokenizer_->TokenToId(ImageTag(config_.family));
  info_.threads = pool_->size();
  // kAuto: the vision towers take bf16 activations where bf16 dot products run at the full FMA rate
  // (their fixtures stay within the official bf16 run's own distance from fp32); the language model
  // keeps f32 activations, since in the MoE fixtures bf16 activations route more rows to other
  // experts than the tests allow (docs/numerics.md).
  vision_bf16_activations_ = options.precision == Precision::kAuto ? kernels::PreferBf16Dot()
                                                                    : kernels::Bf16ActivationsEnabled();
  const bool bf16_dot = kernels::ActiveIsa() == kernels::Isa::kAvx512Bf16;
  info_.isa = kernels::IsaName(kernels::ActiveIsa());
  info_.bf16_activations_llm = bf16_dot && kernels::Bf16ActivationsEnabled();
  info_.bf16_activations_vision = bf16_dot && vision_bf16_activations_;
  info_.kv_type = lm_->kv_dtype() == DType::kF32 ? "f32" : lm_->kv_dtype() == DType::kBF16 ? "bf16" : "f16";
  info_.kv_bytes_per_token = static_cast<int64_t>(
      DTypeBytes(lm_->kv_dtype(), config_.llm.num_layers * config_.llm.KvValuesPerToken()));
  scheduler_ = std::make_unique<StepScheduler>(*lm_, *pool_, mu_);
  info_.load_ms = MsSince(start);
}

void ModelImpl::LoadQuantized(const ModelOptions& options) {
  const QuantOptions quant =
      MakeQuantOptions(options.quant, options.quant_embed, options.quant_lm_head, options.quant_vision);
  bool stored_quantized = false;
  for (const auto& [name, w] : weights_->tensors()) stored_quantized = stored_quantized || IsQuantized(w.view.dtype);
  if (!quant.any() && !stored_quantized) return;
  const std::vector<ExpectedTensor> manifest = ExpectedTensors(config_);
  if (quant.any()) {
    QuantizeInMemory(*weights_, manifest, quant, *pool_, [&](int64_t done, int64_t total, const std::string&) {
      Report(options.progress, "quantize", done, total);
    });
  }
  CheckQuantizedTensorsReadable(manifest, *weights_);
  info_.interleaved_tensors = RepackForDecode(*weights_, manifest, *pool_).tensors;
}

const ImageEmbedder& ModelImpl::embedder() const {
  if (!embedder_) {
    Throw(ErrorCode::kUnsupported, ErrorContext{config_.dir, "vision tower", "one", "none in this checkpoint", ""});
  }
  return *embedder_;
}

int64_t ModelImpl::image_token_id() const {
  if (info_.image_token_id < 0) {
    Throw(ErrorCode::kNotFound,
          ErrorContext{config_.dir, "image token", ImageTag(config_.family), "absent from the tokenizer", ""});
  }
  return info_.image_token_id;
}

RgbImage DecodeImageInput(const ImageInput& input, const InputLimits& limits) {
  ImageLimits image_limits;
  image_limits.max_pixels = limits.max_image_pixels;
  image_limits.max_file_bytes = limits.max_image_file_bytes;
  if (!input.bytes.empty()) {
    return DecodeImageBytes(input.bytes.data(), input.bytes.size(), input.path.empty() ? "image" : input.path,
                            image_limits);
  }
  if (input.path.empty()) {
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"image", "path", "a file path or bytes", "empty", ""});
  }
  return DecodeImageFile(input.path, image_limits);
}

// ---------------------------------------------------------------------------------------------
// SessionImpl

SessionImpl::SessionImpl(std::shared_ptr<Model> model) : model_(std::move(model)), m_(model_->impl()) {}

void SessionImpl::Reset() {
  history_.clear();
  history_chat_.clear();
  history_images_.clear();
  embedding_cache_.clear();
  cache_keys_.clear();
  if (cache_) cache_->Clear();
}

void SessionImpl::CopyStateFrom(const SessionImpl& other) {
  if (&other == this) return;
  if (&other.m_ != &m_) Throw(ErrorCode::kInvalidArgument, "CopyStateFrom: the sessions belong to different models");
  try {
    if (other.cache_) {
      if (!cache_) cache_ = m_.lm().NewCache(m_.info().max_context);
      cache_->CopyFrom(*other.cache_);
      cache_keys_ = other.cache_keys_;
    } else {
      if (cache_) cache_->Clear();
      cache_keys_.clear();
    }
    // Rows in the cache are never shared between sessions: each continues its own sequence.
    embedding_cache_.clear();
    for (const auto& [key, rows] : other.embedding_cache_) {
      Tensor copy = Tensor::Empty(rows.dtype(), rows.shape());
      std::memcpy(copy.view().data, rows.view().data, DTypeBytes(rows.dtype(), rows.numel()));
      embedding_cache_.emplace(key, std::move(copy));
    }
    history_ = other.history_;
    history_chat_ = other.history_chat_;
    history_images_ = other.history_images_;
  } catch (...) {
    Reset();
    throw;
  }
}

PreparedPrompt SessionImpl::Prepare(const GenerateRequest& request, std::vector<ChatMessage>* conversation_out) {
  const ModelConfig& config = m_.config();
  const bool by_ids = !request.prompt_ids.empty();
  if (by_ids == !request.messages.empty()) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"request", "prompt", "either messages or prompt_ids", by_ids ? "both" : "neither", ""});
  }
  // Images are decoded (and kept with the history) before the prompt is measured: bound their
  // number first, so a request with thousands of images is refused before any is decoded.
  int64_t images = static_cast<int64_t>(request.images.size());
  if (!by_ids && !request.replace_history) images += static_cast<int64_t>(history_images_.size());
  for (const Message& msg : request.messages) images += static_cast<int64_t>(msg.images.size());
  if (images > m_.limits().max_images) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{"request", "images", "at most " + std::to_string(m_.limits().max_images) +
                                                " in the conversation (InputLimits::max_images)",
                       std::to_string(images), ""});
  }
  PreparedPrompt p;
  std::vector<int64_t> ids;
  auto add_images = [&](const std::vector<ImageInput>& inputs) {
    for (const ImageInput& in : inputs) {
      auto image = std::make_shared<const RgbImage>(DecodeImageInput(in, m_.limits()));
      const int64_t hash = ImageContentHash(*image);
      p.images.push_back({std::move(image), hash});
    }
  };
  if (by_ids) {
    if (!request.messages.empty() || !request.system.empty()) {
      Throw(ErrorCode::kInvalidArgument, "request: prompt_ids cannot be combined with messages or a system text");
    }
    add_images(request.images);
    ids = request.prompt_ids;
    for (int64_t id : ids) {
      if (id < 0 || id >= config.llm.vocab_size) {
        Throw(ErrorCode::kInvalidArgument,
              ErrorContext{"prompt_ids", "id", "in [0, " + std::to_string(config.llm.vocab_size) + ")",
                           std::to_string(id), ""});
      }
    }
  } else {
    if (!request.images.empty()) {
      Throw(ErrorCode::kInvalidArgument, "request: with messages, attach images to the messages");
    }
    std::vector<ChatMessage> conversation;
    if (!request.replace_history) {
      conversation = history_chat_;
      p.images = history_images_;
    }
    for (const Message& msg : request.messages) {
      ChatMessage cm;
      cm.role = ParseChatRole(msg.role);
      cm.text = msg.text;
      cm.num_images = static_cast<int64_t>(msg.images.size());
      add_images(msg.images);
      conversation.push_back(std::move(cm));
    }
    std::string system = request.system;
    if (system.empty() && request.use_default_system) system = DefaultSystemPrompt(config.family);
    const int64_t image_id = p.images.empty() && m_.info().image_token_id < 0 ? -1 : m_.image_token_id();
    ids = TokenizeConversation(config, m_.tokenizer(), conversation, system, image_id);
    if (conversation_out) *conversation_out = std::move(conversation);
  }

  const int64_t n_images = static_cast<int64_t>(p.images.size());
  std::vector<int64_t> per_image;
  per_image.reserve(n_images);
  for (const ConversationImage& img : p.images) per_image.push_back(m_.embedder().NumTokens(*img.image, n_images));
  const int64_t image_id = n_images > 0 || m_.info().image_token_id >= 0 ? m_.image_token_id() : -1;
  p.expanded = ExpandImageTokens(ids, image_id, per_image);

  // Keys: text positions by id; image positions by (image content hash, tiling) so a cached
  // position is reused only for the same pixels embedded the same way. VL2 tiles only when <= 2
  // images.
  const int64_t tiled = config.family == ModelFamily::kDeepSeekVL2 && n_images <= 2 ? 1 : 0;
  p.keys = p.expanded.ids;
  for (size_t i = 0; i < p.expanded.spans.size(); ++i) {
    const ImageSpan& s = p.expanded.spans[i];
    std::fill(p.keys.begin() + s.start, p.keys.begin() + s.start + s.length,
              -1 - (p.images[i].hash * 2 + tiled));
  }
  // The official VL2 script hands the prompt ids to generate(), so its repetition penalty also
  // covers them; VL1 generates from embeddings only.
  if (config.family == ModelFamily::kDeepSeekVL2) p.penalty_prefix = p.expanded.ids;
  return p;
}

const Tensor& SessionImpl::ImageRows(const ConversationImage& img, int64_t images_in_conversation,
                                     double* encode_ms) {
  const bool tiled = m_.config().family == ModelFamily::kDeepSeekVL2 && images_in_conversation <= 2;
  const int64_t key = img.hash * 2 + (tiled ? 1 : 0);
  auto it = embedding_cache_.find(key);
  if (it != embedding_cache_.end()) return it->second;
  ++images_encoded_;
  const auto start = Clock::now();
  kernels::ScopedBf16Activations precision(m_.vision_bf16_activations());
  // The pool is the step loop's too: encoding waits for the current step, and between its units
  // (tower blocks) it lends the model to a step when other sessions' passes are waiting, so their
  // token streams stall for one unit, not the whole encode.
  std::unique_lock<std::mutex> model_lock(m_.mu());
  StepScheduler& steps = m_.scheduler();
  const auto lend = [&] {
    if (m_.encode_yield_observer()) m_.encode_yield_observer()();
    steps.YieldModel(model_lock);
  };
  ImageEmbedding e = m_.embedder().Embed(m_.pool(), *img.image, images_in_conversation, YieldFn(lend));
  model_lock.unlock();
  *encode_ms += MsSince(start);
  const int64_t hidden = m_.config().llm.hidden_size;
  if (e.rows.dtype() != DType::kF32 || e.rows.shape().rank != 2 || e.rows.dim(1) != hidden) {
    Throw(ErrorCode::kInternal, ErrorContext{"image embedder", "rows", "f32 [n, " + std::to_string(hidden) + "]",
                                             e.rows.shape().ToString(), ""});
  }
  return embedding_cache_.emplace(key, std::move(e.rows)).first->second;
}

void SessionImpl::Prefill(const PreparedPrompt& p, int64_t start, int64_t chunk, const ProgressCallback& progress,
                          std::vector<float>& logits, double* encode_ms) {
  LanguageModel& lm = m_.lm();
  const int64_t hidden = m_.config().llm.hidden_size;
  const int64_t total = static_cast<int64_t>(p.expanded.ids.size());
  const int64_t n_images = static_cast<int64_t>(p.images.size());

  // Image rows for every image whose run reaches into [start, total), checked against its run.
  std::vector<const Tensor*> rows(n_images, nullptr);
  for (int64_t i = 0; i < n_images; ++i) {
    const ImageSpan& s = p.expanded.spans[i];
    if (s.start + s.length <= start) continue;
    Report(progress, "image_encode", i, n_images);
    rows[i] = &ImageRows(p.images[i], n_images, encode_ms);
    if (rows[i]->dim(0) != s.length) {
      Throw(ErrorCode::kInternal,
            ErrorContext{"image " + std::to_string(i), "embedding rows", std::to_string(s.length),
                         std::to_string(rows[i]->dim(0)), "(NumTokens and Embed disagree)"});
    }
  }
  if (n_images > 0) Report(progress, "image_encode", n_images, n_images);

  std::vector<float> embeds(std::min(chunk, total - start) * hidden);
  for (int64_t c0 = start; c0 < total; c0 += chunk) {
    const int64_t c1 = std::min(total, c0 + chunk);
    // Text rows come from the embedding table in runs; image rows are copied in order (the
    // official masked_scatter fills the i-th run with the i-th image's rows).
    int64_t pos = c0;
    while (pos < c1) {
      int64_t end = pos;
      if (!p.expanded.image_mask[pos]) {
        while (end < c1 && !p.expanded.image_mask[end]) ++end;
        lm.Embed(p.expanded.ids.data() + pos, end - pos, embeds.data() + (pos - c0) * hidden);
      } else {
        int64_t img = 0;
        while (p.expanded.spans[img].start + p.expanded.spans[img].length <= pos) ++img;
        const ImageSpan& s = p.expanded.spans[img];
        end = std::min(c1, s.start + s.length);
        std::memcpy(embeds.data() + (pos - c0) * hidden, rows[img]->f32() + (pos - s.start) * hidden,
                    (end - pos) * hidden * sizeof(float));
      }
      pos = end;
    }
    // One pass per chunk through the model's step loop, batched with other sessions' passes.
    m_.scheduler().Forward(*cache_, embeds.data(), c1 - c0, c1 == total ? logits.data() : nullptr);
    Report(progress, "prefill", c1 - start, total - start);
  }
}

void SessionImpl::Generate(const GenerateRequest& request, GenerateResult& result, const TokenCallback& on_token,
                           const std::function<void()>& on_prefilled) {
  result = GenerateResult();
  result.timings.load_ms = m_.info().load_ms;
  if (request.max_new_tokens < 0) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"request", "max_new_tokens", ">= 0", std::to_string(request.max_new_tokens), ""});
  }
  if (request.logprobs < 0 || request.prefill_chunk < 0) {
    Throw(ErrorCode::kInvalidArgument, "request: logprobs and prefill_chunk must be >= 0");
  }
  std::vector<ChatMessage> conversation;
  PreparedPrompt p = Prepare(request, &conversation);
  const int64_t total = static_cast<int64_t>(p.expanded.ids.size());
  result.prompt_tokens = total;
  if (total == 0) Throw(ErrorCode::kInvalidArgument, "request: the prompt is empty");
  if (request.strict_context && total + request.max_new_tokens > m_.info().max_context) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{"request", "prompt tokens + max_new_tokens",
                       "<= " + std::to_string(m_.info().max_context) + " (context size)",
                       std::to_string(total) + " + " + std::to_string(request.max_new_tokens), ""});
  }
  const int64_t encoded_before = images_encoded_;

  // No model-wide lock: every language-model pass goes through m_.scheduler() (see Prefill and the
  // decode below), image encoding takes m_.mu() itself; the rest is this session's own state.
  LanguageModel& lm = m_.lm();
  if (!cache_) cache_ = lm.NewCache(m_.info().max_context);
  if (total >= cache_->capacity()) {
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{"request", "prompt tokens", "< " + std::to_string(cache_->capacity()) + " (context size)",
                       std::to_string(total), ""});
  }

  // Reuse the longest cached prefix; at least the last prompt position is recomputed for its logits.
  int64_t reuse = 0;
  const int64_t limit = std::min<int64_t>(static_cast<int64_t>(cache_keys_.size()), total - 1);
  while (reuse < limit && cache_keys_[reuse] == p.keys[reuse]) ++reuse;
  cache_->Truncate(reuse);
  cache_keys_.resize(reuse);
  result.cached_tokens = reuse;

  // Equal passes of at most the requested size: a short tail pass (1036 = 512 + 512 + 12) would
  // stream most routed experts' weights once more for a handful of rows.
  const int64_t max_chunk = request.prefill_chunk > 0 ? request.prefill_chunk : kDefaultChunk;
  const int64_t todo = total - reuse, passes = (todo + max_chunk - 1) / max_chunk;
  const int64_t chunk = (todo + passes - 1) / passes;
  std::vector<float> logits(m_.config().llm.vocab_size);
  const auto prefill_start = Clock::now();
  double encode_ms = 0.0;
  try {
    Prefill(p, reuse, chunk, request.progress, logits, &encode_ms);
  } catch (...) {
    // The cache may hold part of the prompt; start from scratch next time.
    cache_->Clear();
    cache_keys_.clear();
    throw;
  }
  cache_keys_ = p.keys;
  result.timings.image_encode_ms = encode_ms;
  result.images_encoded = images_encoded_ - encoded_before;
  result.timings.prefill_ms = MsSince(prefill_start) - encode_ms;
  if (result.timings.prefill_ms > 0) {
    result.timings.prefill_tok_s = static_cast<double>(total - reuse) / (result.timings.prefill_ms / 1000.0);
  }
  if (on_prefilled) on_prefilled();

  GenerationConfig gc;
  gc.sampling = SamplerConfig{request.sampling.temperature, request.sampling.top_p, request.sampling.top_k,
                              request.sampling.min_p, request.sampling.repetition_penalty, request.sampling.seed};
  gc.max_new_tokens = std::min<int64_t>(request.max_new_tokens, cache_->capacity() - total + 1);
  if (!request.ignore_eos && request.default_stops && m_.info().eos_id >= 0) gc.stop_ids.push_back(m_.info().eos_id);
  if (!request.ignore_eos) {
    if (request.default_stops) gc.stop_strings.push_back(kTemplateStop);
    gc.stop_strings.insert(gc.stop_strings.end(), request.stop.begin(), request.stop.end());
  }
  gc.logprobs = request.logprobs;
  gc.penalty_prefix = std::move(p.penalty_prefix);
  GenerationOutput out;
  try {
    // Decode rows go through the step loop (batched with the other sessions' rows); sampling and
    // on_token run here, on the caller's thread.
    StepScheduler& steps = m_.scheduler();
    const StepScheduler::Active running(steps);  // steps wait briefly for this session's rows
    out = dsvl::Generate(lm, m_.pool(), *cache_, m_.tokenizer(), gc, logits, on_token,
                         [&steps](KvCache& cache, const float* embed, float* next_logits) {
                           steps.Forward(cache, embed, 1, next_logits);
                         });
  } catch (...) {
    cache_->Clear();
    cache_keys_.clear();
    throw;
  }
  cache_keys_.insert(cache_keys_.end(), out.ids.begin(), out.ids.begin() + out.forward_steps);

  result.ids = std::move(out.ids);
  result.text = std::move(out.text);
  result.logprobs = std::move(out.logprobs);
  result.finish_reason = out.finish_reason;
  result.timings.decode_ms = out.decode_ms;
  if (out.decode_ms > 0 && out.forward_steps > 0) {
    result.timings.decode_tok_s = static_cast<double>(out.forward_steps) / (out.decode_ms / 1000.0);
  }

  if (request.parse_grounding && result.text.find("<|det|>") != std::string::npos) {
    if (p.images.empty()) {
      result.warnings.push_back("grounding boxes in the answer but no image to refer them to");
    } else {
      // The reference demo draws every box on the last image of the conversation.
      const RgbImage& img = *p.images.back().image;
      GroundingResult g = ParseGrounding(result.text, img.width, img.height);
      for (const GroundingBox& b : g.boxes) {
        result.boxes.push_back(Box{b.label, b.box[0], b.box[1], b.box[2], b.box[3],
                                   static_cast<int64_t>(p.images.size()) - 1});
      }
      result.warnings.insert(result.warnings.end(), g.warnings.begin(), g.warnings.end());
    }
  }

  if (request.prompt_ids.empty()) {
    // Commit the turn: the new messages, their images and the answer become history.
    history_chat_ = std::move(conversation);
    history_images_ = p.images;
    if (request.replace_history) history_.clear();
    history_.insert(history_.end(), request.messages.begin(), request.messages.end());
    ChatMessage answer;
    answer.role = ChatRole::kAssistant;
    answer.text = result.text;
    history_chat_.push_back(answer);
    history_.push_back(Message{"assistant", result.text, {}});
  }
  // Embeddings are kept only for images still in the history.
  for (auto it = embedding_cache_.begin(); it != embedding_cache_.end();) {
    const int64_t hash = it->first / 2;
    const bool keep = std::any_of(history_images_.begin(), history_images_.end(),
                                  [hash](const ConversationImage& c) { return c.hash == hash; });
    it = keep ? std::next(it) : embedding_cache_.erase(it);
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

Status Model::Load(const ModelOptions& options, std::shared_ptr<Model>* out) {
  return Capture([&] {
    std::shared_ptr<Model> m(new Model());
    m->impl_ = std::make_unique<ModelImpl>(options);
    *out = std::move(m);
  });
}

Model::~Model() = default;

const ModelInfo& Model::info() const { return impl_->info(); }

Status Model::Tokenize(std::string_view text, bool add_special_tokens, std::vector<int64_t>* ids) const {
  return Capture([&] { *ids = impl_->tokenizer().Encode(text, add_special_tokens); });
}

Status Model::Detokenize(const std::vector<int64_t>& ids, std::string* text) const {
  return Capture([&] { *text = impl_->tokenizer().Decode(ids); });
}

Status Session::Create(std::shared_ptr<Model> model, std::unique_ptr<Session>* out) {
  return Capture([&] {
    if (!model) Throw(ErrorCode::kInvalidArgument, "Session::Create: no model");
    std::unique_ptr<Session> s(new Session());
    s->impl_ = std::make_unique<SessionImpl>(std::move(model));
    *out = std::move(s);
  });
}

Session::~Session() = default;

Status Session::Generate(const GenerateRequest& request, GenerateResult* result, const TokenCallback& on_token) {
  return Capture([&] { impl_->Generate(request, *result, on_token); });
}

void Session::Reset() { impl_->Reset(); }

const std::vector<Message>& Session::history() const { return impl_->history(); }

Status DrawBoxesToPng(const ImageInput& image, const std::vector<Box>& boxes, const std::string& out_png) {
  return Capture([&] {
    RgbImage img = DecodeImageInput(image);
    std::vector<GroundingBox> gb;
    for (const Box& b : boxes) {
      GroundingBox g;
      g.label = b.label;
      g.box[0] = b.x1;
      g.box[1] = b.y1;
      g.box[2] = b.x2;
      g.box[3] = b.y2;
      gb.push_back(g);
    }
    DrawBoxes(img, gb);
    WritePng(out_png, img);
  });
}

double PeakRssMb() {
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace dsvl
