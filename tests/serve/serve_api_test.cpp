// The server's replies over real HTTP on loopback (vl2_tiny fixture): the OpenAI schema of chat and
// text completions, streamed and not, usage with cached tokens, logprobs, n > 1, and the small
// endpoints (health, models, metrics, tokenize).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "serve_test_util.h"

namespace dsvl::serve::test {
namespace {

json Chat(const std::string& text, int max_tokens = 6) {
  return json{{"model", "x"},
              {"messages", {{{"role", "user"}, {"content", text}}}},
              {"max_tokens", max_tokens},
              {"temperature", 0}};
}

void ExpectUsage(const json& u) {
  ASSERT_TRUE(u.is_object()) << u;
  EXPECT_GT(u["prompt_tokens"].get<int64_t>(), 0);
  EXPECT_GT(u["completion_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(u["total_tokens"].get<int64_t>(), u["prompt_tokens"].get<int64_t>() + u["completion_tokens"].get<int64_t>());
  EXPECT_TRUE(u["prompt_tokens_details"]["cached_tokens"].is_number_integer());
}

class ServeApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions o = TinyOptions();
    o.parallel = 2;
    server_ = new Running(Start(o));
  }
  static void TearDownTestSuite() { delete server_; }
  static Running* server_;
};
Running* ServeApi::server_ = nullptr;

TEST_F(ServeApi, ChatCompletionSchema) {
  const Reply r = PostJson(*server_, "/v1/chat/completions", Chat("Hello there", 5));
  ASSERT_EQ(r.status, 200) << r.body;
  const json& j = r.j;
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_TRUE(j["created"].is_number_integer());
  EXPECT_EQ(j["model"], "ckpt");
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& c = j["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_TRUE(c["message"]["content"].is_string());
  EXPECT_TRUE(c["finish_reason"] == "length" || c["finish_reason"] == "stop") << c;
  EXPECT_TRUE(c["logprobs"].is_null());
  EXPECT_TRUE(c["boxes"].is_array());
  ExpectUsage(j["usage"]);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int64_t>(), 5);
}

TEST_F(ServeApi, StreamedChunksMatchTheWholeReply) {
  json body = Chat("Tell me a story", 8);
  const Reply whole = PostJson(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(whole.status, 200) << whole.body;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const Reply r = PostJson(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> events = SseData(r.body);
  ASSERT_GE(events.size(), 4u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string id;
  int finishes = 0;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    if (id.empty()) id = chunk["id"];
    EXPECT_EQ(chunk["id"], id);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_TRUE(chunk.contains("usage"));
    if (i + 2 == events.size()) {  // the usage chunk
      EXPECT_TRUE(chunk["choices"].empty());
      ExpectUsage(chunk["usage"]);
      EXPECT_EQ(chunk["usage"]["completion_tokens"], whole.j["usage"]["completion_tokens"]);
      continue;
    }
    EXPECT_TRUE(chunk["usage"].is_null());
    ASSERT_EQ(chunk["choices"].size(), 1u);
    const json& c = chunk["choices"][0];
    if (i == 0) {
      EXPECT_EQ(c["delta"]["role"], "assistant");
    }
    if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) {
      ++finishes;
      EXPECT_EQ(c["finish_reason"], whole.j["choices"][0]["finish_reason"]);
    }
  }
  EXPECT_EQ(finishes, 1);
  EXPECT_EQ(text, whole.j["choices"][0]["message"]["content"].get<std::string>());
}

TEST_F(ServeApi, ImageChatReportsBoxesFieldAndImageTokens) {
  json body = Chat("", 4);
  body["messages"][0]["content"] = json::array(
      {{{"type", "image_url"}, {"image_url", {{"url", ImageDataUri("A_640x480.jpg")}}}},
       {{"type", "text"}, {"text", "Describe this image."}}});
  const Reply r = PostJson(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GT(r.j["usage"]["prompt_tokens"].get<int64_t>(), 1023);  // a 2x2-tiled 640x480 image
  EXPECT_TRUE(r.j["choices"][0]["boxes"].is_array());
}

TEST_F(ServeApi, LogprobsAndSeveralChoices) {
  json body = Chat("Count", 3);
  body["logprobs"] = true;
  body["top_logprobs"] = 2;
  body["n"] = 2;
  const Reply r = PostJson(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.j["choices"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const json& c = r.j["choices"][i];
    EXPECT_EQ(c["index"], i);
    const json& content = c["logprobs"]["content"];
    ASSERT_FALSE(content.empty());
    for (const json& step : content) {
      EXPECT_TRUE(step["token"].is_string());
      EXPECT_LE(step["logprob"].get<double>(), 0.0);
      EXPECT_TRUE(step["bytes"].is_array());
      EXPECT_EQ(step["top_logprobs"].size(), 2u);
    }
  }
  // Greedy: both choices are the same answer.
  EXPECT_EQ(r.j["choices"][0]["message"]["content"], r.j["choices"][1]["message"]["content"]);
}

TEST_F(ServeApi, TextCompletionSchemaAndStream) {
  json body{{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0}};
  const Reply r = PostJson(*server_, "/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["object"], "text_completion");
  EXPECT_EQ(r.j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_TRUE(r.j["choices"][0]["text"].is_string());
  ExpectUsage(r.j["usage"]);
  body["stream"] = true;
  const Reply s = PostJson(*server_, "/v1/completions", body);
  ASSERT_EQ(s.status, 200) << s.body;
  const auto events = SseData(s.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) text += json::parse(events[i])["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, r.j["choices"][0]["text"].get<std::string>());
  // Token ids as the prompt.
  const Reply ids = PostJson(*server_, "/v1/completions", {{"prompt", {1, 2, 3}}, {"max_tokens", 2}});
  EXPECT_EQ(ids.status, 200) << ids.body;
}

TEST_F(ServeApi, HealthModelsMetricsTokenize) {
  const Reply h = Get(*server_, "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.j["status"], "ok");
  const Reply m = Get(*server_, "/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.j["object"], "list");
  EXPECT_EQ(m.j["data"][0]["id"], "ckpt");

  const Reply t = PostJson(*server_, "/tokenize", {{"content", "Hello world"}});
  ASSERT_EQ(t.status, 200) << t.body;
  ASSERT_FALSE(t.j["tokens"].empty());
  const Reply d = PostJson(*server_, "/detokenize", {{"tokens", t.j["tokens"]}});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.j["content"], "Hello world");

  ASSERT_EQ(PostJson(*server_, "/v1/chat/completions", Chat("metrics", 2)).status, 200);
  // Requests are counted once their reply is written, which may be just after the client has it.
  Reply mt;
  for (int i = 0; i < 50; ++i) {
    mt = Get(*server_, "/metrics");
    if (mt.body.find("endpoint=\"/v1/chat/completions\",status=\"200\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(mt.status, 200);
  for (const char* name : {"dsvl_prompt_tokens_total", "dsvl_generated_tokens_total", "dsvl_cached_prompt_tokens_total",
                           "dsvl_time_to_first_token_seconds_count", "dsvl_inter_token_latency_seconds_count",
                           "dsvl_queue_length", "dsvl_active_sequences"}) {
    EXPECT_GE(MetricValue(mt.body, name), 0) << name << "\n" << mt.body;
  }
  EXPECT_GT(MetricValue(mt.body, "dsvl_generated_tokens_total"), 0);
  EXPECT_GT(MetricValue(mt.body, "dsvl_time_to_first_token_seconds_count"), 0);
  EXPECT_NE(mt.body.find("dsvl_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}"), std::string::npos);
}

}  // namespace
}  // namespace dsvl::serve::test

namespace dsvl::serve::test {
namespace {

// DeepSeek-VL (v1) takes its own image tag and system prompt through the same endpoint, and its
// second turn is cached too.
TEST(ServeVl1, ImageChatAndCachedSecondTurn) {
  ServerOptions o = TinyOptions();
  o.model.dir = FixtureDir() + "/v1_siglip/ckpt";
  Running r = Start(o);
  json body{{"messages",
             {{{"role", "user"},
               {"content", json::array({{{"type", "image_url"}, {"image_url", {{"url", ImageDataUri("D_17x23.png")}}}},
                                        {{"type", "text"}, {"text", "What is this?"}}})}}}},
            {"max_tokens", 4},
            {"temperature", 0}};
  const Reply a = PostJson(r, "/v1/chat/completions", body);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_GT(a.j["usage"]["prompt_tokens"].get<int64_t>(), 576);  // one VL1 image is 576 positions
  body["messages"].push_back({{"role", "assistant"}, {"content", a.j["choices"][0]["message"]["content"]}});
  body["messages"].push_back({{"role", "user"}, {"content", "More?"}});
  const Reply b = PostJson(r, "/v1/chat/completions", body);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.j["timings"]["images_encoded"], 0);
  EXPECT_GT(b.j["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), 576);
}

}  // namespace
}  // namespace dsvl::serve::test
