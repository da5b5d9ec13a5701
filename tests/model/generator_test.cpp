// The decode loop and its stop-string matcher, driven by a scripted fake LanguageModel: each forward
// pass produces logits whose argmax is the next scripted id, so greedy generation replays the
// script and every stop condition can be placed exactly.
#include "model/generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer.h"
#include "npy.h"

namespace dsvl {
namespace {

using Ids = std::vector<int64_t>;

// ---- StopMatcher ----------------------------------------------------------------------------------

TEST(StopMatcher, NoStopsEmitsEverything) {
  StopMatcher m({});
  EXPECT_EQ(m.Push("User"), "User");
  EXPECT_EQ(m.Push(":"), ":");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcher, StopSplitAcrossPieces) {
  StopMatcher m({"User:"});
  EXPECT_EQ(m.Push("Hel"), "Hel");
  EXPECT_EQ(m.Push("lo U"), "lo ");  // "U" could start the stop string: held back
  EXPECT_EQ(m.Push("se"), "");       // "Use" still could
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.Push("r: and more"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.text(), "Hello ");
  EXPECT_EQ(m.Push("ignored"), "");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_EQ(m.text(), "Hello ");
}

TEST(StopMatcher, HeldBackTextIsReleasedWhenItDiverges) {
  StopMatcher m({"User:"});
  EXPECT_EQ(m.Push("Us"), "");
  EXPECT_EQ(m.Push("ed"), "Used");
  EXPECT_EQ(m.Push(" Use"), " ");
  EXPECT_EQ(m.Flush(), "Use");  // end of generation: what was held back comes out
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.text(), "Used Use");
}

TEST(StopMatcher, TextBeforeTheStopInTheSamePieceIsEmitted) {
  StopMatcher m({"User:"});
  EXPECT_EQ(m.Push("ab"), "ab");
  EXPECT_EQ(m.Push("cUser:d"), "c");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.text(), "abc");
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"<｜end▁of▁sentence｜>", "ab", "b"});
  EXPECT_EQ(m.Push("xa"), "x");
  EXPECT_EQ(m.Push("bc"), "");
  EXPECT_EQ(m.text(), "x");
  // A stop at the very start leaves no text.
  StopMatcher start({"User:"});
  EXPECT_EQ(start.Push("User: hi"), "");
  EXPECT_TRUE(start.stopped());
  EXPECT_EQ(start.text(), "");
}

TEST(StopMatcher, OverlappingPartialMatches) {
  StopMatcher m({"aab"});
  EXPECT_EQ(m.Push("a"), "");
  EXPECT_EQ(m.Push("a"), "");
  EXPECT_EQ(m.Push("a"), "a");  // "aaa": only "aa" can still become the stop
  EXPECT_EQ(m.Push("b"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.text(), "a");
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  StopMatcher m({"", "zz"});
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, MultiByteStopString) {
  const std::string eos = "<｜end▁of▁sentence｜>";
  StopMatcher m({eos});
  std::string streamed;
  const std::string text = "Done." + eos + "tail";
  for (char c : text) streamed += m.Push(std::string(1, c));
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(streamed, "Done.");
  EXPECT_EQ(m.text(), "Done.");
}

// ---- Generate with a scripted model ---------------------------------------------------------------

class FakeCache : public KvCache {
 public:
  explicit FakeCache(int64_t capacity, int64_t size) : capacity_(capacity), size_(size) {}
  int64_t size() const override { return size_; }
  int64_t capacity() const override { return capacity_; }
  void Clear() override { size_ = 0; }
  void Truncate(int64_t n) override { size_ = std::min(size_, n); }
  void Append(int64_t n) { size_ += n; }

 private:
  int64_t capacity_, size_;
};

// Embed writes the id into the row, Forward reads it back (to check what was fed) and writes
// logits whose argmax is script[forward calls]. Background logits vary with the id so that
// logprobs are not trivial.
class ScriptedModel : public LanguageModel {
 public:
  ScriptedModel(int64_t vocab, Ids script) : script_(std::move(script)) {
    config_.vocab_size = vocab;
    config_.hidden_size = 3;
  }
  const LlmConfig& config() const override { return config_; }
  std::unique_ptr<KvCache> NewCache(int64_t max_tokens) const override {
    return std::make_unique<FakeCache>(max_tokens, 0);
  }
  void Embed(const int64_t* ids, int64_t n, float* out) const override {
    for (int64_t i = 0; i < n; ++i) {
      out[i * 3] = static_cast<float>(ids[i]);
      out[i * 3 + 1] = out[i * 3 + 2] = 0.0f;
    }
  }
  void Forward(ThreadPool&, KvCache& cache, const ForwardRequest& req) override {
    for (int64_t i = 0; i < req.n; ++i) fed_.push_back(static_cast<int64_t>(req.embeds[i * 3]));
    static_cast<FakeCache&>(cache).Append(req.n);
    ++forwards_;
    if (req.logits_out) FillLogits(forwards_, req.logits_out);
  }
  void Logits(ThreadPool&, const float*, int64_t, float*) const override {}

  // Logits of step `step` (0: the prompt's last position).
  void FillLogits(int64_t step, float* logits) const {
    for (int64_t v = 0; v < config_.vocab_size; ++v) logits[v] = 0.001f * static_cast<float>(v % 17);
    const int64_t id = step < static_cast<int64_t>(script_.size()) ? script_[step] : 0;
    logits[id] = 5.0f;
  }
  const Ids& fed() const { return fed_; }

 private:
  LlmConfig config_;
  Ids script_;
  Ids fed_;
  int64_t forwards_ = 0;
};

const Tokenizer& Tok() {
  static std::unique_ptr<Tokenizer> t = Tokenizer::Load(test::FixtureDir() + "/vl2_tiny/ckpt");
  return *t;
}

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (int k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

struct GenRun {
  GenerationOutput out;
  std::vector<std::pair<int64_t, std::string>> pieces;
  std::string streamed;
  Ids fed;
};

GenRun RunScript(const Ids& script, const GenerationConfig& cfg, int64_t capacity = 1000,
             int64_t cancel_after = -1) {
  ScriptedModel lm(Tok().vocab_size(), script);
  FakeCache cache(capacity, 5);  // five prompt tokens already in
  ThreadPool pool(1);
  std::vector<float> logits(lm.config().vocab_size);
  lm.FillLogits(0, logits.data());
  GenRun r;
  int64_t calls = 0;
  r.out = dsvl::Generate(lm, pool, cache, Tok(), cfg, logits, [&](int64_t id, std::string_view piece) {
    r.pieces.emplace_back(id, std::string(piece));
    r.streamed += piece;
    return ++calls != cancel_after;
  });
  r.fed = lm.fed();
  EXPECT_EQ(cache.size(), 5 + r.out.forward_steps);
  return r;
}

Ids Enc(const std::string& s) { return Tok().Encode(s, false); }

TEST(Generate, StopsOnTheEosIdWithoutFeedingIt) {
  const Ids text = Enc("Hello world");
  Ids script = text;
  script.push_back(1);  // EOS
  script.push_back(Enc("x")[0]);
  GenerationConfig cfg;
  cfg.stop_ids = {1};
  const GenRun r = RunScript(script, cfg);
  Ids want = text;
  want.push_back(1);
  EXPECT_EQ(r.out.ids, want);
  EXPECT_EQ(r.out.finish_reason, FinishReason::kStop);
  EXPECT_EQ(r.out.text, "Hello world");
  EXPECT_EQ(r.streamed, "Hello world");
  EXPECT_EQ(r.out.forward_steps, static_cast<int64_t>(text.size()));
  // Every generated id except the EOS went back through the model, in order.
  EXPECT_EQ(r.fed, text);
}

TEST(Generate, StopsAtMaxNewTokens) {
  const Ids script = Enc("one two three four five six seven");
  ASSERT_GT(script.size(), 4u);
  GenerationConfig cfg;
  cfg.max_new_tokens = 4;
  cfg.stop_ids = {1};
  const GenRun r = RunScript(script, cfg);
  EXPECT_EQ(r.out.ids, Ids(script.begin(), script.begin() + 4));
  EXPECT_EQ(r.out.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.out.forward_steps, 3);  // the last token is not fed back
  EXPECT_EQ(r.out.text, Tok().Decode(r.out.ids));
  EXPECT_EQ(r.streamed, r.out.text);

  for (int64_t budget : {0, -5}) {
    cfg.max_new_tokens = budget;
    const GenRun none = RunScript(script, cfg);
    EXPECT_TRUE(none.out.ids.empty());
    EXPECT_EQ(none.out.text, "");
    EXPECT_EQ(none.out.finish_reason, FinishReason::kLength);
    EXPECT_EQ(none.out.forward_steps, 0);
  }
}

TEST(Generate, StopsOnAStopStringAndDropsIt) {
  const Ids script = Enc("The answer. User: next question");
  GenerationConfig cfg;
  cfg.stop_ids = {1};
  cfg.stop_strings = {"User:"};
  const GenRun r = RunScript(script, cfg);
  EXPECT_EQ(r.out.finish_reason, FinishReason::kStop);
  EXPECT_EQ(r.out.text, "The answer. ");
  EXPECT_EQ(r.streamed, "The answer. ");
  // It stopped at the token completing "User:", not later.
  const std::string decoded = Tok().Decode(r.out.ids);
  EXPECT_NE(decoded.find("User:"), std::string::npos) << decoded;
  EXPECT_EQ(Tok().Decode(Ids(r.out.ids.begin(), r.out.ids.end() - 1)).find("User:"), std::string::npos);
  EXPECT_LT(r.out.ids.size(), script.size());
}

TEST(Generate, StreamedPiecesConcatenateToTheText) {
  // A near-miss of the stop string is held back and then released.
  const std::string s = "Users: say User without the colon, Use.";
  GenerationConfig cfg;
  cfg.stop_ids = {1};
  cfg.stop_strings = {"User:"};
  Ids script = Enc(s);
  script.push_back(1);
  const GenRun r = RunScript(script, cfg);
  EXPECT_EQ(r.out.text, s);
  EXPECT_EQ(r.streamed, s);
  for (const auto& [id, piece] : r.pieces) EXPECT_TRUE(ValidUtf8(piece)) << piece;
}

// Byte-level tokens for each byte of `s` (the tiny vocabulary has all 256).
Ids ByteTokens(const std::string& s) {
  Ids ids;
  for (unsigned char c : s) {
    // GPT-2 byte-to-unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 + n.
    std::string ch;
    int cp;
    if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE)) {
      cp = c;
    } else {
      int n = 0;
      for (int b = 0; b < c; ++b) {
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))) ++n;
      }
      cp = 0x100 + n;
    }
    if (cp < 0x80) {
      ch = std::string(1, static_cast<char>(cp));
    } else {
      ch = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    const int64_t id = Tok().TokenToId(ch);
    EXPECT_GE(id, 0) << "byte " << static_cast<int>(c);
    ids.push_back(id);
  }
  return ids;
}

TEST(Generate, NeverStreamsHalfACharacter) {
  const std::string s = "é→😀!";  // 2-, 3- and 4-byte characters, one byte token each
  Ids script = ByteTokens(s);
  ASSERT_EQ(Tok().Decode(script), s);
  script.push_back(1);
  GenerationConfig cfg;
  cfg.stop_ids = {1};
  const GenRun r = RunScript(script, cfg);
  EXPECT_EQ(r.out.text, s);
  EXPECT_EQ(r.streamed, s);
  for (const auto& [id, piece] : r.pieces) EXPECT_TRUE(ValidUtf8(piece)) << "piece for id " << id;
  // The first byte of "é" alone streams nothing.
  ASSERT_FALSE(r.pieces.empty());
  EXPECT_EQ(r.pieces[0].second, "");
  EXPECT_EQ(r.pieces[1].second, "é");
}

TEST(Generate, ATruncatedCharacterAtTheEndIsStreamedAsReplacement) {
  // The budget ends after the first byte of a 2-byte character: the text (and the stream) end
  // with U+FFFD, as HF decode would give.
  Ids script = ByteTokens("ab\xC3\xA9");
  GenerationConfig cfg;
  cfg.max_new_tokens = 3;
  cfg.stop_strings = {"User:"};
  const GenRun r = RunScript(script, cfg);
  EXPECT_EQ(r.out.text, "ab\xEF\xBF\xBD");
  EXPECT_EQ(r.streamed, r.out.text);
  EXPECT_EQ(r.pieces.back().first, -1);  // the held-back tail comes in a last call with id -1
}

TEST(Generate, HeldBackStopPrefixIsFlushedAtTheEnd) {
  const Ids script = Enc("Hi User");
  GenerationConfig cfg;
  cfg.max_new_tokens = static_cast<int64_t>(script.size());
  cfg.stop_strings = {"User:"};
  const GenRun r = RunScript(script, cfg);
  EXPECT_EQ(r.out.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.out.text, "Hi User");
  EXPECT_EQ(r.streamed, "Hi User");
}

TEST(Generate, LogprobsPerStepMatchTheLogits) {
  const Ids script = Enc("a b c");
  GenerationConfig cfg;
  cfg.logprobs = 3;
  cfg.max_new_tokens = static_cast<int64_t>(script.size());
  const GenRun r = RunScript(script, cfg);
  ASSERT_EQ(r.out.logprobs.size(), r.out.ids.size());
  ScriptedModel ref(Tok().vocab_size(), script);
  std::vector<float> l(Tok().vocab_size());
  for (size_t step = 0; step < r.out.ids.size(); ++step) {
    ref.FillLogits(static_cast<int64_t>(step), l.data());
    double z = 0.0;
    for (float v : l) z += std::exp(static_cast<double>(v));
    const StepLogprobs& lp = r.out.logprobs[step];
    EXPECT_EQ(lp.id, r.out.ids[step]);
    EXPECT_EQ(lp.id, script[step]);
    EXPECT_NEAR(lp.logprob, l[lp.id] - std::log(z), 1e-4) << step;
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].id, script[step]);
    for (size_t k = 0; k < lp.top.size(); ++k) {
      EXPECT_NEAR(lp.top[k].logprob, l[lp.top[k].id] - std::log(z), 1e-4);
      if (k > 0) {
        EXPECT_GE(lp.top[k - 1].logprob, lp.top[k].logprob);
      }
    }
  }
  cfg.logprobs = 0;
  EXPECT_TRUE(RunScript(script, cfg).out.logprobs.empty());
}

TEST(Generate, CallbackCanCancel) {
  const Ids script = Enc("one two three four");
  GenerationConfig cfg;
  const GenRun r = RunScript(script, cfg, 1000, /*cancel_after=*/2);
  EXPECT_EQ(r.out.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(r.out.ids.size(), 2u);
  EXPECT_EQ(r.out.forward_steps, 1);
}

TEST(Generate, FullContextFinishesAsLength) {
  const Ids script = Enc("one two three four five six");
  GenerationConfig cfg;
  const GenRun r = RunScript(script, cfg, /*capacity=*/7);  // 5 prompt tokens + 2
  EXPECT_EQ(r.out.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.out.forward_steps, 2);
  EXPECT_EQ(r.out.ids.size(), 3u);
}

TEST(Generate, RepetitionPenaltySeesThePrefixAndTheGeneratedIds) {
  // The script repeats one id `a` with logit 5 against a background whose best logit is 0.016
  // (id 16). Penalty 100 leaves 0.05 (a still wins); penalty 1000 leaves 0.005 (id 16 wins).
  const int64_t a = Enc("a")[0];
  ASSERT_NE(a, 16);
  const Ids script(4, a);
  GenerationConfig cfg;
  cfg.max_new_tokens = 3;
  cfg.penalty_prefix = {a};
  cfg.sampling.repetition_penalty = 100.0f;
  EXPECT_EQ(RunScript(script, cfg).out.ids.front(), a);
  cfg.sampling.repetition_penalty = 1000.0f;
  EXPECT_EQ(RunScript(script, cfg).out.ids.front(), 16);  // the prompt prefix counts
  // Without the prefix the first pick is free; then `a`, and next 16 too, are in the history, so
  // the third pick is the next-best background id (33, also 0.016).
  cfg.penalty_prefix.clear();
  const GenRun r = RunScript(script, cfg);
  EXPECT_EQ(r.out.ids, (Ids{a, 16, 33}));
}

}  // namespace
}  // namespace dsvl
