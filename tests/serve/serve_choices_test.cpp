// n > 1 choices: they run side by side on idle slots (their decode rows share the step loop's
// batched passes) and give exactly the texts of single requests with seeds seed, seed + 1, ...,
// streamed or not; with one slot they still all run, one after another.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "serve_test_util.h"

namespace dsvl::serve::test {
namespace {

constexpr int64_t kSeed = 1234;

// Sampled (not greedy), so that different seeds give different texts; ignore_eos keeps each choice
// decoding for all its tokens, long enough for the choices to overlap.
json Sampled(int64_t seed, int n, bool stream = false) {
  json body{{"messages", {{{"role", "user"}, {"content", "Tell me a story"}}}},
            {"max_tokens", 16},
            {"temperature", 1.0},
            {"seed", seed},
            {"ignore_eos", true},
            {"n", n}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

std::vector<std::string> Texts(const Reply& r) {
  std::vector<std::string> out;
  for (const json& c : r.j["choices"]) {
    EXPECT_EQ(c["index"], static_cast<int64_t>(out.size()));
    out.push_back(c["message"]["content"].get<std::string>());
  }
  return out;
}

// The stream's text per choice index, and its usage chunk.
std::map<int64_t, std::string> StreamTexts(const Reply& r, json* usage) {
  std::map<int64_t, std::string> out;
  for (const std::string& e : SseData(r.body)) {
    if (e == "[DONE]") continue;
    const json j = json::parse(e);
    if (!j["usage"].is_null()) *usage = j["usage"];
    for (const json& c : j["choices"]) {
      std::string& text = out[c["index"].get<int64_t>()];
      if (c["delta"].contains("content") && c["delta"]["content"].is_string()) {
        text += c["delta"]["content"].get<std::string>();
      }
    }
  }
  return out;
}

// A choice after the first starts from the prompt in its slot's cache with the last prompt position
// recomputed alone (the single requests after the warm-up do the same), so every text below comes
// from the same first logits whatever slot ran it.
void Warm(const Running& r) {
  const Reply warm = PostJson(r, "/v1/chat/completions", Sampled(7, 1));
  ASSERT_EQ(warm.status, 200) << warm.body;
}

// The reference: n = 3 must give these, one per seed.
std::vector<std::string> Singles(const Running& r) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < 3; ++i) {
    const Reply one = PostJson(r, "/v1/chat/completions", Sampled(kSeed + i, 1));
    EXPECT_EQ(one.status, 200) << one.body;
    out.push_back(Texts(one).at(0));
  }
  return out;
}

void ExpectChoicesMatchSingles(const Running& r) {
  Warm(r);
  const Reply three = PostJson(r, "/v1/chat/completions", Sampled(kSeed, 3));
  ASSERT_EQ(three.status, 200) << three.body;
  const json usage = three.j["usage"];
  json stream_usage;
  const Reply streamed = PostJson(r, "/v1/chat/completions", Sampled(kSeed, 3, /*stream=*/true));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  const std::map<int64_t, std::string> stream_texts = StreamTexts(streamed, &stream_usage);

  const std::vector<std::string> singles = Singles(r);
  EXPECT_NE(singles[0], singles[1]);  // the seeds matter, so a mixed-up seed would show
  EXPECT_EQ(Texts(three), singles);
  ASSERT_EQ(stream_texts.size(), 3u);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(stream_texts.at(i), singles[i]) << "streamed choice " << i;

  // The prompt counts once; completion tokens are the three choices'.
  const Reply one = PostJson(r, "/v1/chat/completions", Sampled(kSeed, 1));
  const int64_t prompt = one.j["usage"]["prompt_tokens"].get<int64_t>();
  EXPECT_EQ(usage["prompt_tokens"], prompt);
  EXPECT_EQ(usage["completion_tokens"], 3 * 16);
  EXPECT_EQ(stream_usage["prompt_tokens"], prompt);
  EXPECT_EQ(stream_usage["completion_tokens"], 3 * 16);
}

TEST(ServeChoices, ParallelChoicesMatchSingleRequestsAndShareSteps) {
  ServerOptions o = TinyOptions();
  o.parallel = 3;
  Running r = Start(o);
  Warm(r);
  EXPECT_EQ(MetricValue(Get(r, "/metrics").body, "dsvl_batch_max_sequences"), 1);
  // Three slots were idle: the choices decode together, several rows to a step. Whether the extra
  // choices' threads start before choice 0's 16 tiny-model tokens are done depends on the machine's
  // load, so the request is repeated (up to 5 times) until a step has carried two of them; without
  // extra slots no attempt ever does.
  std::string metrics;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const Reply three = PostJson(r, "/v1/chat/completions", Sampled(kSeed, 3));
    ASSERT_EQ(three.status, 200) << three.body;
    metrics = Get(r, "/metrics").body;
    if (MetricValue(metrics, "dsvl_batch_max_sequences") >= 2) break;
  }
  EXPECT_GE(MetricValue(metrics, "dsvl_batch_max_sequences"), 2) << metrics;
  EXPECT_EQ(MetricValue(metrics, "dsvl_active_sequences"), 0) << "the extra slots were given back";
  ExpectChoicesMatchSingles(r);
}

TEST(ServeChoices, OneSlotRunsTheChoicesInTurn) {
  ServerOptions o = TinyOptions();
  o.parallel = 1;
  o.queue = 0;
  Running r = Start(o);
  ExpectChoicesMatchSingles(r);
  EXPECT_EQ(MetricValue(Get(r, "/metrics").body, "dsvl_batch_max_sequences"), 1);
}

}  // namespace
}  // namespace dsvl::serve::test
