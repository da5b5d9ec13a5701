// The decode loop: sample a token from the last logits, stream its text, stop on EOS / stop strings /
// the token budget, feed the token back through the language model. Buffers are allocated once per
// generation, never per token.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dsvl/dsvl.h"
#include "core/thread_pool.h"
#include "llm/language_model.h"
#include "model/sampler.h"

namespace dsvl {

class Tokenizer;

struct GenerationConfig {
  SamplerConfig sampling;
  int64_t max_new_tokens = 512;
  std::vector<int64_t> stop_ids;           // e.g. EOS
  std::vector<std::string> stop_strings;   // matched on the decoded text
  int64_t logprobs = 0;
  // Ids the repetition penalty sees before the first generated one (the official VL2 script passes
  // the prompt ids to generate(); VL1 passes only embeddings, so nothing).
  std::vector<int64_t> penalty_prefix;
};

struct GenerationOutput {
  std::vector<int64_t> ids;
  std::string text;
  std::vector<StepLogprobs> logprobs;
  FinishReason finish_reason = FinishReason::kLength;
  int64_t forward_steps = 0;  // decode forward passes run
  double decode_ms = 0.0;
};

// Holds back the end of the text that could still become a stop string, and finds stop strings
// as soon as they complete. Separate from the loop so it can be tested on its own.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Appends `piece`; returns the text that is now safe to emit. Sets stopped() once a stop string
  // appears (the text from it on is dropped).
  std::string_view Push(std::string_view piece);
  // Emits whatever was held back (at the end of generation).
  std::string_view Flush();
  bool stopped() const { return stopped_; }
  const std::string& text() const { return text_; }  // everything accepted so far

 private:
  std::vector<std::string> stops_;
  size_t max_stop_ = 0;
  std::string text_;
  size_t emitted_ = 0;
  bool stopped_ = false;
};

// One decode pass: the chosen token's embedding [hidden] appended to the cache -> next logits
// [vocab]. Empty: lm.Forward on the calling thread; the engine passes its StepScheduler's Forward,
// so that the pass is batched with other sequences' (sampling and on_token stay on this thread).
using DecodeForward = std::function<void(KvCache& cache, const float* embed, float* logits)>;

// Runs the loop. `logits` holds the last prompt position's logits [vocab] on entry (it is used as
// scratch). The cache must already hold the prompt.
GenerationOutput Generate(LanguageModel& lm, ThreadPool& pool, KvCache& cache, const Tokenizer& tokenizer,
                          const GenerationConfig& config, std::vector<float>& logits,
                          const std::function<bool(int64_t, std::string_view)>& on_token,
                          const DecodeForward& forward = {});

}  // namespace dsvl
