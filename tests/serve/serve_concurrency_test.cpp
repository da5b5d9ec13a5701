// Concurrency and caching over HTTP: concurrent greedy requests answer as they do alone; a full
// queue gives 429 with Retry-After; a client that hangs up mid-stream frees its slot at once; the
// second turn of a conversation with an image reuses the cached prefix and does not encode the
// image again, even with another conversation served in between.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "serve_test_util.h"

namespace dsvl::serve::test {
namespace {

using Ms = std::chrono::milliseconds;

json Greedy(const json& content, int max_tokens) {
  return json{{"messages", {{{"role", "user"}, {"content", content}}}}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

json ImageQuestion(const std::string& image, const std::string& text) {
  return json::array({{{"type", "image_url"}, {"image_url", {{"url", image}}}}, {{"type", "text"}, {"text", text}}});
}

std::string Content(const Reply& r) { return r.j["choices"][0]["message"]["content"].get<std::string>(); }

TEST(ServeConcurrency, SixConcurrentGreedyRequestsMatchAlone) {
  ServerOptions o = TinyOptions();
  o.parallel = 3;
  o.queue = 8;
  Running r = Start(o);
  std::vector<json> bodies;
  for (int i = 0; i < 5; ++i) bodies.push_back(Greedy("Question number " + std::to_string(i) + ", please answer", 12));
  bodies.push_back(Greedy(ImageQuestion(ImageDataUri("C_300x900.jpg"), "What is this?"), 12));
  std::vector<std::string> alone;
  for (const json& b : bodies) {
    const Reply rep = PostJson(r, "/v1/chat/completions", b);
    ASSERT_EQ(rep.status, 200) << rep.body;
    alone.push_back(Content(rep));
  }
  std::vector<Reply> together(bodies.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < bodies.size(); ++i) {
    threads.emplace_back([&, i] { together[i] = PostJson(r, "/v1/chat/completions", bodies[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_EQ(together[i].status, 200) << together[i].body;
    EXPECT_EQ(Content(together[i]), alone[i]) << "request " << i;
  }
}

TEST(ServeConcurrency, RepeatedImageSecondTurnIsCached) {
  ServerOptions o = TinyOptions();
  o.parallel = 2;
  Running r = Start(o);
  const std::string image = ImageDataUri("A_640x480.jpg");
  // Another conversation first, so the image conversation's slot is the more recently used one
  // when its second turn comes: only matching the conversation (not LRU order) finds it.
  ASSERT_EQ(PostJson(r, "/v1/chat/completions", Greedy("Unrelated question", 4)).status, 200);
  json turn1 = Greedy(ImageQuestion(image, "Describe this image."), 6);
  const Reply a = PostJson(r, "/v1/chat/completions", turn1);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.j["timings"]["images_encoded"], 1);
  EXPECT_EQ(a.j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);

  // Turn 2 resends the history with the same image bytes (as a stateless client does).
  json turn2 = turn1;
  turn2["messages"].push_back({{"role", "assistant"}, {"content", Content(a)}});
  turn2["messages"].push_back({{"role", "user"}, {"content", "And the colours?"}});
  const Reply b = PostJson(r, "/v1/chat/completions", turn2);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.j["timings"]["images_encoded"], 0) << b.body;
  EXPECT_GT(b.j["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), 1023) << b.body;
  EXPECT_GT(b.j["usage"]["prompt_tokens"].get<int64_t>(), b.j["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>());

  // The cached answer equals a cold server's answer to the same conversation.
  Running cold = Start(TinyOptions());
  const Reply c = PostJson(cold, "/v1/chat/completions", turn2);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.j["timings"]["images_encoded"], 1);
  EXPECT_EQ(Content(c), Content(b));

  const Reply m = Get(r, "/metrics");
  EXPECT_EQ(MetricValue(m.body, "dsvl_images_encoded_total"), 1) << m.body;
  EXPECT_GT(MetricValue(m.body, "dsvl_cached_prompt_tokens_total"), 1023);
}

// A streamed request that runs for many seconds unless cancelled: 8 choices of 4000 tokens.
std::string LongStream() {
  return json{{"messages", {{{"role", "user"}, {"content", "Go on forever"}}}},
              {"max_tokens", 4000},
              {"ignore_eos", true},
              {"n", 8},
              {"stream", true}}
      .dump();
}

TEST(ServeConcurrency, FullQueueGets429AndDisconnectFreesTheSlot) {
  ServerOptions o = TinyOptions();
  o.parallel = 1;
  o.queue = 0;
  Running r = Start(o);
  RawClient hog(r.port);
  ASSERT_TRUE(hog.Send("/v1/chat/completions", LongStream()));
  const std::string head = hog.ReadSome(200, 30000);
  ASSERT_NE(head.find("200 OK"), std::string::npos) << head;
  ASSERT_NE(head.find("data: "), std::string::npos) << head;

  // The only slot is busy and nothing may wait: 429 with Retry-After.
  const Reply busy = PostJson(r, "/v1/chat/completions", Greedy("me too", 2));
  EXPECT_EQ(busy.status, 429) << busy.body;
  EXPECT_EQ(busy.j["error"]["code"], "queue_full");
  EXPECT_FALSE(busy.retry_after.empty());

  // The client hangs up: the slot is free well before the 32000 tokens could have been made.
  const auto t0 = std::chrono::steady_clock::now();
  hog.Close();
  double active = 1;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
    active = MetricValue(Get(r, "/metrics").body, "dsvl_active_sequences");
    if (active == 0) break;
    std::this_thread::sleep_for(Ms(10));
  }
  EXPECT_EQ(active, 0);
  const Reply next = PostJson(r, "/v1/chat/completions", Greedy("my turn", 2));
  EXPECT_EQ(next.status, 200) << next.body;
  const double generated = MetricValue(Get(r, "/metrics").body, "dsvl_generated_tokens_total");
  EXPECT_LT(generated, 8000) << "the cancelled stream ran on";
}

TEST(ServeConcurrency, StopCutsRunningStreamsCleanly) {
  ServerOptions o = TinyOptions();
  o.shutdown_grace_s = 0.2;
  Running r = Start(o);
  RawClient stream(r.port);
  ASSERT_TRUE(stream.Send("/v1/chat/completions", LongStream()));
  ASSERT_NE(stream.ReadSome(200, 30000).find("data: "), std::string::npos);
  std::thread reader([&] {
    // Drain so the server is never blocked on a full socket; the end must be a proper [DONE].
    std::string all;
    while (true) {
      const std::string more = stream.ReadSome(1, 20000);
      if (more.empty()) break;
      all += more;
    }
    EXPECT_NE(all.find("data: [DONE]"), std::string::npos) << all.substr(all.size() > 500 ? all.size() - 500 : 0);
  });
  const auto t0 = std::chrono::steady_clock::now();
  r.server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  reader.join();
  EXPECT_EQ(PostJson(r, "/v1/chat/completions", Greedy("after", 2)).status, -1);  // nobody listening
}

}  // namespace
}  // namespace dsvl::serve::test
