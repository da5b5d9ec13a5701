#include "model/generator.h"

#include <algorithm>
#include <chrono>

#include "dsvl/error.h"
#include "text/tokenizer.h"

namespace dsvl {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
  for (const std::string& s : stops_) max_stop_ = std::max(max_stop_, s.size());
}

std::string_view StopMatcher::Push(std::string_view piece) {
  if (stopped_) return {};
  const size_t old_size = text_.size();
  text_.append(piece);
  // A stop string can only end inside the new piece, so search from just before it.
  const size_t from = old_size >= max_stop_ ? old_size - max_stop_ + 1 : 0;
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t pos = text_.find(s, from);
    if (pos != std::string::npos) cut = std::min(cut, pos);
  }
  if (cut != std::string::npos) {
    stopped_ = true;
    text_.resize(std::max(cut, emitted_));
    const size_t start = emitted_;
    emitted_ = text_.size();
    return std::string_view(text_).substr(start);
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t len = std::min(s.size() - 1, text_.size()); len > hold; --len) {
      if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  const size_t safe = std::max(emitted_, text_.size() - hold);
  const size_t start = emitted_;
  emitted_ = safe;
  return std::string_view(text_).substr(start, safe - start);
}

std::string_view StopMatcher::Flush() {
  const size_t start = emitted_;
  emitted_ = text_.size();
  return std::string_view(text_).substr(start);
}

GenerationOutput Generate(LanguageModel& lm, ThreadPool& pool, KvCache& cache, const Tokenizer& tokenizer,
                          const GenerationConfig& config, std::vector<float>& logits,
                          const std::function<bool(int64_t, std::string_view)>& on_token,
                          const DecodeForward& forward) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const int64_t vocab = lm.config().vocab_size;
  const int64_t hidden = lm.config().hidden_size;
  Sampler sampler(config.sampling, vocab);
  StreamDecoder stream(tokenizer);
  StopMatcher stops(config.stop_strings);

  GenerationOutput out;
  DSVL_CHECK(static_cast<int64_t>(logits.size()) == vocab, "logits must hold one row of the vocabulary");
  // A negative budget generates nothing (and must not reach reserve()).
  const int64_t budget = std::max<int64_t>(0, config.max_new_tokens);
  out.ids.reserve(budget);
  if (config.logprobs > 0) out.logprobs.reserve(budget);
  std::vector<int64_t> history(config.penalty_prefix);
  history.reserve(history.size() + budget);
  std::vector<float> embed(hidden);
  std::vector<int64_t> scratch;
  std::vector<TopLogprob> top;

  auto emit = [&](int64_t id, std::string_view piece) { return !on_token || on_token(id, piece); };

  // With logprobs the sampler's in-place edits would hide the raw logits, so keep a copy.
  std::vector<float> raw(config.logprobs > 0 ? vocab : 0);

  for (int64_t step = 0; step < budget; ++step) {
    StepLogprobs* lp = nullptr;
    if (config.logprobs > 0) {
      std::copy(logits.begin(), logits.end(), raw.begin());
      out.logprobs.emplace_back();
      lp = &out.logprobs.back();
      TopLogprobs(raw.data(), vocab, 0, config.logprobs, scratch, top);
      lp->top.reserve(top.size());
      for (const TopLogprob& t : top) lp->top.push_back({t.id, t.logprob});
    }
    const int64_t chosen = sampler.Sample(logits.data(), history.data(), static_cast<int64_t>(history.size()));
    if (lp) {
      // log_softmax(raw)[chosen]: the top-k entry when the chosen id is one (so the two agree to
      // the bit), else raw[chosen] - logZ with logZ recovered from the best entry.
      lp->id = chosen;
      const auto it = std::find_if(top.begin(), top.end(), [chosen](const TopLogprob& t) { return t.id == chosen; });
      lp->logprob = it != top.end() ? it->logprob : raw[chosen] - (raw[top[0].id] - top[0].logprob);
    }
    out.ids.push_back(chosen);
    history.push_back(chosen);

    const bool is_stop_id =
        std::find(config.stop_ids.begin(), config.stop_ids.end(), chosen) != config.stop_ids.end();
    if (is_stop_id) {
      out.finish_reason = FinishReason::kStop;
      if (!emit(chosen, {})) out.finish_reason = FinishReason::kCancelled;
      break;
    }
    const std::string piece = stream.Push(chosen);
    const std::string_view safe = stops.Push(piece);
    if (!emit(chosen, safe)) {
      out.finish_reason = FinishReason::kCancelled;
      break;
    }
    if (stops.stopped()) {
      out.finish_reason = FinishReason::kStop;
      break;
    }
    if (step + 1 == budget) break;
    if (cache.size() >= cache.capacity()) break;  // context full: finish as "length"

    lm.Embed(&chosen, 1, embed.data());
    if (forward) {
      forward(cache, embed.data(), logits.data());
    } else {
      ForwardRequest req;
      req.embeds = embed.data();
      req.n = 1;
      req.logits_out = logits.data();
      lm.Forward(pool, cache, req);
    }
    ++out.forward_steps;
  }
  if (out.finish_reason != FinishReason::kCancelled && !stops.stopped()) {
    // The decoder's incomplete bytes (now U+FFFD) go through the stop matcher like any piece; what
    // it releases and what it still held back reach the stream in one last call.
    std::string rest(stops.Push(stream.Flush()));
    if (!stops.stopped()) rest += stops.Flush();
    if (!rest.empty() && on_token) on_token(-1, rest);
  }
  out.text = stops.text();
  out.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return out;
}

}  // namespace dsvl
