// Greedy decoding of several prompts on one LanguageModel, each alone (the classic loop: Forward
// over the prompt in chunks, then one-row Forwards) or all together through ForwardBatch (prompts
// admitted at different steps and prefilled in chunks while the others decode, one pass per step).
// Used by the llm and model tests to check that batching does not change a sequence's ids or
// logits. Header-only: only the llm/model test binaries include it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "llm/language_model.h"

namespace dsvl::test {

struct GreedyPrompt {
  std::vector<float> embeds;  // [n, hidden]
  int64_t admit_step = 0;     // batched: the step at which the prompt's first chunk runs
};

struct GreedyRun {
  std::vector<int64_t> ids;
  std::vector<std::vector<float>> logits;  // per generated id: the logits it was taken from
};

inline int64_t GreedyArgmax(const std::vector<float>& v) {
  return static_cast<int64_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

inline GreedyRun GreedyAlone(ThreadPool& pool, LanguageModel& lm, const GreedyPrompt& p, int64_t new_tokens,
                             int64_t chunk) {
  const int64_t H = lm.config().hidden_size, n = static_cast<int64_t>(p.embeds.size()) / H;
  std::unique_ptr<KvCache> cache = lm.NewCache(n + new_tokens);
  std::vector<float> logits(static_cast<size_t>(lm.config().vocab_size)), row(static_cast<size_t>(H));
  ForwardRequest req;
  req.embeds = p.embeds.data();
  req.n = n;
  req.logits_out = logits.data();
  lm.set_prefill_chunk(chunk);
  lm.Forward(pool, *cache, req);
  GreedyRun r;
  for (;;) {
    r.ids.push_back(GreedyArgmax(logits));
    r.logits.push_back(logits);
    if (static_cast<int64_t>(r.ids.size()) == new_tokens) break;
    lm.Embed(&r.ids.back(), 1, row.data());
    req.embeds = row.data();
    req.n = 1;
    lm.Forward(pool, *cache, req);
  }
  return r;
}

inline std::vector<GreedyRun> GreedyBatched(ThreadPool& pool, LanguageModel& lm, const std::vector<GreedyPrompt>& prompts,
                                            int64_t new_tokens, int64_t chunk) {
  const int64_t H = lm.config().hidden_size;
  struct Seq {
    std::unique_ptr<KvCache> cache;
    int64_t len = 0, prefilled = 0;
    std::vector<float> logits, row;
    bool ran = false;
  };
  std::vector<Seq> seqs(prompts.size());
  std::vector<GreedyRun> runs(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    seqs[i].len = static_cast<int64_t>(prompts[i].embeds.size()) / H;
    seqs[i].cache = lm.NewCache(seqs[i].len + new_tokens);
    seqs[i].logits.resize(static_cast<size_t>(lm.config().vocab_size));
    seqs[i].row.resize(static_cast<size_t>(H));
  }
  std::vector<SequenceBatchItem> items;
  for (int64_t step = 0;; ++step) {
    items.clear();
    for (size_t i = 0; i < prompts.size(); ++i) {
      Seq& s = seqs[i];
      s.ran = step >= prompts[i].admit_step && static_cast<int64_t>(runs[i].ids.size()) < new_tokens;
      if (!s.ran) continue;
      if (s.prefilled < s.len) {
        const int64_t n = std::min(chunk, s.len - s.prefilled);
        items.push_back({s.cache.get(), prompts[i].embeds.data() + s.prefilled * H, n, s.logits.data(), nullptr});
        s.prefilled += n;
      } else {
        lm.Embed(&runs[i].ids.back(), 1, s.row.data());
        items.push_back({s.cache.get(), s.row.data(), 1, s.logits.data(), nullptr});
      }
    }
    if (items.empty()) {
      bool waiting = false;
      for (size_t i = 0; i < prompts.size(); ++i) waiting |= step < prompts[i].admit_step;
      if (!waiting) break;
      continue;
    }
    lm.ForwardBatch(pool, items);
    for (size_t i = 0; i < prompts.size(); ++i)
      if (seqs[i].ran && seqs[i].prefilled == seqs[i].len) {  // prompt complete: take the next id
        runs[i].ids.push_back(GreedyArgmax(seqs[i].logits));
        runs[i].logits.push_back(seqs[i].logits);
      }
  }
  return runs;
}

}  // namespace dsvl::test
