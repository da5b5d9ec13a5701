// The server's small pieces on their own: strict base64, the constant-time key compare, JSON body
// checks, and request parsing into a GenerateRequest.
#include <gtest/gtest.h>

#include "serve/api_error.h"
#include "serve/auth.h"
#include "serve/base64.h"
#include "serve/chat_request.h"
#include "serve/json_fields.h"

namespace dsvl::serve {
namespace {

std::string Decoded(std::string_view b64) {
  auto v = DecodeBase64(b64, 1 << 20);
  return v ? std::string(v->begin(), v->end()) : std::string("<invalid>");
}

TEST(ServeBase64, RoundTripAndStrictness) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    const std::string enc = EncodeBase64(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    EXPECT_EQ(Decoded(enc), s) << enc;
  }
  EXPECT_EQ(EncodeBase64(reinterpret_cast<const uint8_t*>("foobar"), 6), "Zm9vYmFy");
  EXPECT_EQ(Decoded("Zm9vYg"), "foob");  // unpadded is accepted
  EXPECT_EQ(Decoded("Zm9v YmFy"), "<invalid>");
  EXPECT_EQ(Decoded("Zm9vY"), "<invalid>");     // 6 dangling bits
  EXPECT_EQ(Decoded("Zm9vYh=="), "<invalid>");  // non-zero trailing bits
  EXPECT_EQ(Decoded("Zm=9v"), "<invalid>");
  EXPECT_EQ(Decoded("Zm9v-_"), "<invalid>");    // URL alphabet is not this one
  EXPECT_FALSE(DecodeBase64("Zm9vYmFy", 5).has_value());  // over the byte limit
  EXPECT_TRUE(DecodeBase64("Zm9vYmFy", 6).has_value());
}

TEST(ServeAuthUnit, ConstantTimeCompare) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(BearerTokenMatches("Bearer k1", "k1"));
  EXPECT_FALSE(BearerTokenMatches("bearer k1", "k1"));
  EXPECT_FALSE(BearerTokenMatches("Bearer k1 ", "k1"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", ""));
  EXPECT_FALSE(BearerTokenMatches("", "k1"));
}

int StatusOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e.status;
  }
  return 0;
}

TEST(ServeJson, BodyChecks) {
  EXPECT_EQ(StatusOf([] { ParseBody("{\"a\": 1}"); }), 0);
  EXPECT_EQ(StatusOf([] { ParseBody(""); }), 400);
  EXPECT_EQ(StatusOf([] { ParseBody("nul"); }), 400);
  EXPECT_EQ(StatusOf([] { ParseBody("\"str\""); }), 400);
  EXPECT_EQ(StatusOf([] { ParseBody(std::string(65, '[') + std::string(65, ']')); }), 400);
  // Brackets inside strings do not count as nesting.
  EXPECT_EQ(StatusOf([] { ParseBody("{\"a\": \"" + std::string(1000, '[') + "\"}"); }), 0);
  const json j = json::parse(R"({"i": 3, "f": 0.5, "b": true, "s": "x", "n": null, "big": 18446744073709551615})");
  EXPECT_EQ(OptInt(j, "i", 0, 5), 3);
  EXPECT_FALSE(OptInt(j, "n", 0, 5).has_value());
  EXPECT_FALSE(OptInt(j, "absent", 0, 5).has_value());
  EXPECT_EQ(StatusOf([&] { OptInt(j, "f", 0, 5); }), 400);
  EXPECT_EQ(StatusOf([&] { OptInt(j, "i", 4, 5); }), 400);
  EXPECT_EQ(StatusOf([&] { OptInt(j, "big", 0, INT64_MAX); }), 400);
  EXPECT_EQ(StatusOf([&] { OptBool(j, "s"); }), 400);
  EXPECT_EQ(StatusOf([&] { OptString(j, "b"); }), 400);
  EXPECT_EQ(StatusOf([&] { OptNumber(j, "s", 0, 1); }), 400);
  EXPECT_EQ(OptNumber(j, "i", 0, 5), 3.0);
}

TEST(ServeChatRequest, MessagesBecomeAGenerateRequest) {
  RequestContext ctx;
  ctx.max_image_bytes = 1 << 20;
  ctx.vocab_size = 1000;
  const json body = json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                   {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                                   {"type": "text", "text": "What is it?"}]},
      {"role": "assistant", "content": "A cat."},
      {"role": "user", "content": "Sure?"}],
    "max_tokens": 7, "temperature": 0, "stop": "END", "seed": 5, "top_k": 3, "repetition_penalty": 1.1})");
  const ParsedRequest p = ParseChatRequest(body, ctx);
  const GenerateRequest& r = p.request;
  EXPECT_TRUE(r.replace_history);
  EXPECT_EQ(r.system, "Be brief.");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].text, "Look:\n<image>\nWhat is it?");
  ASSERT_EQ(r.messages[0].images.size(), 1u);
  EXPECT_EQ(r.messages[0].images[0].bytes.size(), 8u);
  EXPECT_EQ(r.messages[1].role, "assistant");
  EXPECT_EQ(r.max_new_tokens, 7);
  EXPECT_TRUE(r.strict_context);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_EQ(r.sampling.seed, 5u);
  EXPECT_EQ(r.sampling.top_k, 3);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(p.signature.size(), 4u);
  // A system message after the conversation started is refused, as is an assistant image.
  json late = body;
  late["messages"].push_back({{"role", "system"}, {"content", "late"}});
  EXPECT_EQ(StatusOf([&] { ParseChatRequest(late, ctx); }), 400);
  json vl1 = body;
  ctx.family = ModelFamilyId::kDeepSeekVL;
  EXPECT_EQ(ParseChatRequest(vl1, ctx).request.messages[0].text, "Look:\n<image_placeholder>\nWhat is it?");
}

}  // namespace
}  // namespace dsvl::serve
