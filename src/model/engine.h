// Internals behind include/dsvl/dsvl.h: what a loaded Model holds and how a Session turns a request
// into prompt embeddings, prefill and decode. Exposed to tests (engine_e2e_test) and to the server.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dsvl/dsvl.h"
#include "core/thread_pool.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "llm/language_model.h"
#include "model/image_embedder.h"
#include "model/model_config.h"
#include "model/prompt_builder.h"
#include "runtime/step_scheduler.h"
#include "text/tokenizer.h"

namespace dsvl {

class ModelImpl {
 public:
  explicit ModelImpl(const ModelOptions& options);  // throws dsvl::Error

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const WeightStore& weights() const { return *weights_; }
  LanguageModel& lm() { return *lm_; }
  const ImageEmbedder& embedder() const;  // throws kUnsupported if the checkpoint has no vision tower
  ThreadPool& pool() { return *pool_; }
  // Held by each step of the scheduler and by image encoding (both use the pool and the model's
  // scratch), so the two are serialised; language-model passes go through scheduler().
  std::mutex& mu() { return mu_; }
  // The model's step loop: sessions' prefill chunks and decode rows, batched per step.
  StepScheduler& scheduler() { return *scheduler_; }
  const ModelInfo& info() const { return info_; }
  int64_t image_token_id() const;  // throws kNotFound when the tokenizer/config has none
  // Whether image encoding runs with bf16 activations (ModelOptions::precision, docs/numerics.md).
  bool vision_bf16_activations() const { return vision_bf16_activations_; }
  const InputLimits& limits() const { return limits_; }
  // Tests: called at each of image encoding's yield points, with the model mutex held, before the
  // model is lent to waiting steps (StepScheduler::YieldModel). Set before any session runs.
  void set_encode_yield_observer(std::function<void()> f) { encode_yield_observer_ = std::move(f); }
  const std::function<void()>& encode_yield_observer() const { return encode_yield_observer_; }

 private:
  // ModelOptions::quant*: converts the weights in memory; and refuses block-quantised tensors the
  // engine reads only as floats (CheckQuantizedTensorsReadable).
  void LoadQuantized(const ModelOptions& options);

  ModelConfig config_;
  std::unique_ptr<WeightStore> weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<LanguageModel> lm_;
  std::unique_ptr<ImageEmbedder> embedder_;
  std::unique_ptr<ThreadPool> pool_;
  std::mutex mu_;
  ModelInfo info_;
  bool vision_bf16_activations_ = false;
  InputLimits limits_;
  std::function<void()> encode_yield_observer_;
  std::unique_ptr<StepScheduler> scheduler_;  // last: its thread stops before the rest goes
};

// An image of the conversation: pixels plus a hash of their content (ImageContentHash) that keys
// cached embeddings and KV-cache positions, so the same image sent again in a later request (a
// stateless client resending its history) matches what the session already computed.
struct ConversationImage {
  std::shared_ptr<const RgbImage> image;
  int64_t hash = 0;
};

// The prompt ready for the language model.
struct PreparedPrompt {
  ExpandedPrompt expanded;
  std::vector<int64_t> keys;   // per position: the id, or a negative key naming (image, tiling)
  std::vector<ConversationImage> images;
  std::vector<int64_t> penalty_prefix;  // ids the repetition penalty starts from
};

RgbImage DecodeImageInput(const ImageInput& input, const InputLimits& limits = {});

class SessionImpl {
 public:
  explicit SessionImpl(std::shared_ptr<Model> model);

  // Throws dsvl::Error; on error the history is unchanged. `on_prefilled`, when set, runs on this
  // thread once the prompt is in the KV cache and before the first token is sampled: the moment
  // another session can CopyStateFrom this one to sample the same prompt again (the server's n).
  void Generate(const GenerateRequest& request, GenerateResult& result, const TokenCallback& on_token,
                const std::function<void()>& on_prefilled = {});
  // Makes this session continue from `other`'s state: its history, its KV cache rows with what
  // each holds, and its cached image embeddings, all copied (no model pass). A request then finds
  // the copied prompt as a cached prefix, exactly as if it ran on `other` (the last prompt position
  // is recomputed there too, see Generate). `other` must not be generating on another thread
  // except inside its on_prefilled. Throws dsvl::Error; on error this session is reset.
  void CopyStateFrom(const SessionImpl& other);
  void Reset();
  const std::vector<Message>& history() const { return history_; }

  // Steps of Generate, public for tests: the request's prompt (no model forward pass).
  PreparedPrompt Prepare(const GenerateRequest& request, std::vector<ChatMessage>* conversation_out);

 private:
  const Tensor& ImageRows(const ConversationImage& img, int64_t images_in_conversation,
                                      double* encode_ms);
  // Runs the language model over positions [start, total) of the prompt; leaves the last logits.
  void Prefill(const PreparedPrompt& prompt, int64_t start, int64_t chunk, const ProgressCallback& progress,
               std::vector<float>& logits, double* encode_ms);

  std::shared_ptr<Model> model_;
  ModelImpl& m_;
  std::unique_ptr<KvCache> cache_;
  std::vector<int64_t> cache_keys_;  // what each cached position holds (PreparedPrompt::keys)

  std::vector<Message> history_;                 // public form, returned by history()
  std::vector<ChatMessage> history_chat_;        // the same turns for the prompt builder
  std::vector<ConversationImage> history_images_;
  // key (hash * 2 + tiled) -> f32 rows [n, hidden]. Bounded: only images of the history are kept
  // (at most InputLimits::max_images), pruned after every request.
  std::map<int64_t, Tensor> embedding_cache_;
  int64_t images_encoded_ = 0;  // ImageRows calls that ran the vision tower (GenerateResult::images_encoded)
};

}  // namespace dsvl
