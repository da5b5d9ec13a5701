// dsvl public runtime API: load a DeepSeek-VL / DeepSeek-VL2 checkpoint once, then generate from
// any number of sessions. Shared by the CLI, the C API and the HTTP server.
//
//  - Model: immutable after Load (config, mmapped weights, tokenizer, vision + language towers).
//    Shared (std::shared_ptr) by every Session that uses it.
//  - Session: one conversation: its KV cache, its message history and its image embeddings. A session
//    is used by one thread at a time; different sessions may run concurrently (today their forward
//    passes are serialised on the model; batched decoding of many sessions can be added behind this
//    interface because all per-sequence state already lives in the Session).
//
// Every entry point reports failure as a dsvl::Status (never throws, never aborts).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsvl/error.h"

namespace dsvl {

// Progress of a long operation ("load", "image_encode", "prefill"): done out of total units.
struct Progress {
  std::string stage;
  int64_t done = 0;
  int64_t total = 0;
};
using ProgressCallback = std::function<void(const Progress&)>;

// Arithmetic of the matrix products with bf16 weights. bf16 activations: rounded to bf16 and
// multiplied with bf16 dot products (as PyTorch computes a bf16 checkpoint), on CPUs where those run
// at the full FMA rate (AMD Zen 4/5; elsewhere f32 is used whatever is asked). kAuto: bf16
// activations for the vision towers and projector, f32 for the language model. kF32: f32
// everywhere (results depend on the CPU only through f32 summation order). kBf16: bf16 everywhere.
// docs/numerics.md has what each does to the results. The language model's setting is one for the
// whole process: an explicit kF32 / kBf16 at Model::Load applies to every model in it.
enum class Precision { kAuto, kF32, kBf16 };

// Bounds on what files and requests may make dsvl read, decode and allocate (docs/limits.md lists
// them with the config-file ranges). Exceeding one gives ErrorCode::kLimitExceeded naming the
// limit and the value; raise a field to admit larger inputs. The prompt length in tokens is
// bounded by the context (ModelOptions::max_context).
struct InputLimits {
  // Decoded width x height of one image, checked from the file header before decoding. The
  // default is Pillow's MAX_IMAGE_PIXELS decompression-bomb threshold (~9459 x 9459).
  int64_t max_image_pixels = 89'478'485;
  int64_t max_image_file_bytes = int64_t{256} << 20;  // encoded bytes of one image
  // Images in one conversation (session history plus the request): each is decoded and kept with
  // the history. VL1 fits ~6 images into a 4096-token context, VL2 ~19 untiled ones.
  int64_t max_images = 16;
  int64_t max_tokenizer_file_bytes = int64_t{128} << 20;  // tokenizer.json, checked before reading
  int64_t max_vocab_size = int64_t{1} << 21;              // token ids in tokenizer.json
};
// Element type of the KV cache. kAuto: the LLM's own precision, as the official code keeps its
// cache in the model dtype: f32 for an f32 checkpoint, bf16 for bf16 (or any other) weights.
// bf16/f16 halve the cache's memory and the bytes each decode step reads from it.
enum class KvCacheType { kAuto, kF32, kBF16, kF16 };

struct ModelOptions {
  std::string dir;             // checkpoint directory (config.json, *.safetensors, tokenizer.json ...)
  int threads = 0;             // <= 0: one per hardware thread
  int64_t max_context = 0;     // KV-cache size per session in tokens; 0: min(model positions, 4096)
  Precision precision = Precision::kAuto;
  KvCacheType kv_type = KvCacheType::kAuto;
  ProgressCallback progress;   // optional
  InputLimits limits;          // applies to the checkpoint's tokenizer and to every request
  // Weight quantisation at load (docs/quantization.md): "q8_0", "q4_0" or "q4_k" converts a bf16 /
  // f32 checkpoint in memory ("" = keep the checkpoint's types; an already quantised checkpoint
  // loads as it is, mmapped). Per-class overrides, "" = the default policy: a block type, or
  // "bf16" / "f16" / "f32" to keep the class in floats.
  std::string quant;
  std::string quant_embed;
  std::string quant_lm_head;
  std::string quant_vision;  // vision towers' and projector's Linear layers (convolutions never)
};

enum class ModelFamilyId { kDeepSeekVL, kDeepSeekVL2 };

struct ModelInfo {
  ModelFamilyId family = ModelFamilyId::kDeepSeekVL2;
  std::string dir;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t max_context = 0;
  int64_t image_token_id = -1;
  int64_t bos_id = -1;
  int64_t eos_id = -1;
  int threads = 0;
  std::string isa;                       // kernel variant in use: scalar, avx2, avx512, avx512bf16
  bool bf16_activations_llm = false;     // the Precision in effect (ModelOptions::precision)
  bool bf16_activations_vision = false;
  double load_ms = 0.0;
  std::string kv_type;              // the KV cache's element type after kAuto: "f32", "bf16" or "f16"
  int64_t kv_bytes_per_token = 0;   // KV-cache bytes one token takes over all layers
  // Quantised matrices repacked at load into the interleaved layout of this CPU's decode kernels
  // (docs/quantization.md; 0 with DSVL_INTERLEAVE=0, a float checkpoint, or kernels without it).
  int64_t interleaved_tensors = 0;
};

// An image given by file path or by the encoded file bytes (JPEG, PNG, WebP, GIF, BMP).
struct ImageInput {
  std::string path;
  std::vector<uint8_t> bytes;  // used when non-empty; `path` then only names it in messages
  static ImageInput FromPath(std::string p) { return ImageInput{std::move(p), {}}; }
};

struct Message {
  std::string role;                 // "system", "user", "assistant"
  std::string text;                 // may contain image tags (<image_placeholder> VL1, <image> VL2)
  std::vector<ImageInput> images;   // untagged images go before the text
};

struct SamplingParams {
  float temperature = 0.0f;         // <= 0: greedy
  float top_p = 1.0f;
  int64_t top_k = 0;                // 0: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off (HF semantics)
  uint64_t seed = 0;
};

struct GenerateRequest {
  // Either chat messages (appended to the session's history) ...
  std::vector<Message> messages;
  // ... or, with replace_history, the whole conversation: the session's history is replaced by
  // `messages` (plus the answer) instead of extended. The KV cache is kept, so the longest common
  // token prefix with what the session computed before is still reused: a stateless client (the
  // OpenAI API) that resends the history with its images every turn recomputes only the new part.
  bool replace_history = false;
  std::string system;               // VL1: replaces the default system prompt; VL2: optional system text
  bool use_default_system = true;   // VL1: use the official system prompt when `system` is empty
  // ... or an already formatted prompt as token ids (the session history is not used; no BOS is
  // added: include it if the model expects one). Each occurrence of the model's image token id
  // stands for the next image of `images` and is expanded as the official processor does.
  std::vector<int64_t> prompt_ids;
  std::vector<ImageInput> images;

  SamplingParams sampling;
  int64_t max_new_tokens = 512;
  std::vector<std::string> stop;    // extra stop strings
  bool default_stops = true;        // EOS id and the template's stop string ("User:")
  bool ignore_eos = false;          // generate exactly max_new_tokens (benchmarks, tests)
  // Fail with kLimitExceeded when prompt + max_new_tokens exceed the context, instead of ending the
  // answer early with finish reason "length" (a server refusing an impossible max_tokens).
  bool strict_context = false;
  int64_t logprobs = 0;             // top-k log-probabilities per step (0: none)
  int64_t prefill_chunk = 0;        // prompt tokens per forward pass (0: default 512)
  bool parse_grounding = true;      // fill GenerateResult::boxes from <|ref|>/<|det|> output
  ProgressCallback progress;        // optional
};

struct TokenLogprob {
  int64_t id = 0;
  float logprob = 0.0f;
};

struct StepLogprobs {
  int64_t id = 0;                   // the token chosen at this step
  float logprob = 0.0f;             // its log-probability under the raw logits
  std::vector<TokenLogprob> top;    // the k most likely tokens
};

struct Box {
  std::string label;
  int64_t x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // pixels of the image the boxes refer to
  int64_t image_index = 0;                  // which request image (the last one, as the reference)
};

enum class FinishReason { kStop, kLength, kCancelled };
const char* FinishReasonName(FinishReason r);  // "stop", "length", "cancelled"

struct Timings {
  double load_ms = 0.0;
  double image_encode_ms = 0.0;
  double prefill_ms = 0.0;
  double prefill_tok_s = 0.0;
  double decode_ms = 0.0;
  double decode_tok_s = 0.0;
};

struct GenerateResult {
  std::vector<int64_t> ids;         // generated ids (including a final EOS when it stopped there)
  std::string text;                 // decoded answer (special tokens kept, EOS / stop string removed)
  std::vector<StepLogprobs> logprobs;
  int64_t prompt_tokens = 0;        // after image expansion
  int64_t cached_tokens = 0;        // prompt tokens reused from the session's KV cache
  int64_t images_encoded = 0;       // images run through the vision tower (the rest came from caches)
  FinishReason finish_reason = FinishReason::kLength;
  Timings timings;
  std::vector<Box> boxes;
  std::vector<std::string> warnings;  // e.g. malformed grounding boxes
};

// Streaming: called for every generated token with the newly completed text (may be empty while a
// multi-byte character or a possible stop string is held back). Return false to cancel. Text held
// back until the end arrives in one last call with id -1.
using TokenCallback = std::function<bool(int64_t id, std::string_view piece)>;

class ModelImpl;
class SessionImpl;

class Model {
 public:
  static Status Load(const ModelOptions& options, std::shared_ptr<Model>* out);
  ~Model();
  const ModelInfo& info() const;
  // Tokenizer access for tools (encode with the model's added special tokens).
  Status Tokenize(std::string_view text, bool add_special_tokens, std::vector<int64_t>* ids) const;
  Status Detokenize(const std::vector<int64_t>& ids, std::string* text) const;
  ModelImpl& impl() const { return *impl_; }

 private:
  Model() = default;
  std::unique_ptr<ModelImpl> impl_;
};

class Session {
 public:
  static Status Create(std::shared_ptr<Model> model, std::unique_ptr<Session>* out);
  ~Session();
  // Runs one request. With messages, they and the answer are appended to the history (or replace
  // it: GenerateRequest::replace_history); either way the KV cache is reused for the longest common
  // prefix, images matched by content. A failed request leaves the history unchanged.
  Status Generate(const GenerateRequest& request, GenerateResult* result, const TokenCallback& on_token = {});
  // Forgets the history and the cache.
  void Reset();
  const std::vector<Message>& history() const;
  // The internals (model/engine.h), for the server: e.g. starting a session from another's state.
  SessionImpl& impl() const { return *impl_; }

 private:
  Session() = default;
  std::unique_ptr<SessionImpl> impl_;
};

// Draws the boxes (with labels) onto the image and writes a PNG.
Status DrawBoxesToPng(const ImageInput& image, const std::vector<Box>& boxes, const std::string& out_png);

// Peak resident set size of this process in MiB (0 when unknown).
double PeakRssMb();

}  // namespace dsvl
