// Every class of bad input gets a 4xx with an OpenAI-style error object, and the server keeps
// serving afterwards; bearer-token auth on and off.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/base64.h"
#include "serve_test_util.h"

namespace dsvl::serve::test {
namespace {

json UserContent(const json& content, int max_tokens = 2) {
  return json{{"messages", {{{"role", "user"}, {"content", content}}}}, {"max_tokens", max_tokens}};
}

json ImagePart(const std::string& url) { return json{{"type", "image_url"}, {"image_url", {{"url", url}}}}; }

void ExpectError(const Reply& r, int status, const std::string& code, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  ASSERT_TRUE(r.j.is_object() && r.j.contains("error")) << what << ": " << r.body;
  const json& e = r.j["error"];
  for (const char* key : {"message", "type", "param", "code"}) EXPECT_TRUE(e.contains(key)) << what << ": " << key;
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << what;
  if (!code.empty()) {
    EXPECT_EQ(e["code"], code) << what << ": " << r.body;
  }
}

class ServeErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions o = TinyOptions();
    o.max_body_bytes = 1 << 20;
    o.model.limits.max_images = 2;
    o.model.max_context = 2048;
    server_ = new Running(Start(o));
  }
  static void TearDownTestSuite() { delete server_; }
  static Running* server_;
};
Running* ServeErrors::server_ = nullptr;

TEST_F(ServeErrors, BadInputsGet4xxAndServerKeepsServing) {
  const std::string chat = "/v1/chat/completions";
  const std::string image = ImageDataUri("A_640x480.jpg");
  const std::string not_an_image = "data:image/png;base64," + EncodeBase64(reinterpret_cast<const uint8_t*>("hello"), 5);
  struct Case {
    std::string what;
    std::string body;
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"body too large", json{{"prompt", std::string(2 << 20, 'x')}}.dump(), 413, "body_too_large"},
      {"bad JSON", "{\"messages\": [", 400, "invalid_json"},
      {"not an object", "[1, 2]", 400, "invalid_json"},
      {"nesting bomb", std::string(100000, '[') + std::string(100000, ']'), 400, "invalid_json"},
      {"messages not an array", json{{"messages", "hi"}}.dump(), 400, "invalid_type"},
      {"empty messages", json{{"messages", json::array()}}.dump(), 400, "invalid_value"},
      {"temperature a string", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", "hot"}}.dump(),
       400, "invalid_type"},
      {"max_tokens fractional", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 1.5}}.dump(),
       400, "invalid_type"},
      {"stream not a bool", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"stream", "yes"}}.dump(), 400,
       "invalid_type"},
      {"n too large", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"n", 1000}}.dump(), 400, "invalid_value"},
      {"unknown role", json{{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}.dump(), 400, "invalid_role"},
      {"content a number", UserContent(42).dump(), 400, "invalid_type"},
      {"unknown part type", UserContent(json::array({{{"type", "audio"}}})).dump(), 400, "invalid_type"},
      {"frequency_penalty", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"frequency_penalty", 0.5}}.dump(),
       400, "unsupported_parameter"},
      {"bad base64", UserContent(json::array({ImagePart("data:image/png;base64,@@@@")})).dump(), 400, "invalid_base64"},
      {"not base64 data URI", UserContent(json::array({ImagePart("data:image/png,abc")})).dump(), 400,
       "invalid_image_url"},
      {"remote URL", UserContent(json::array({ImagePart("https://example.com/a.png")})).dump(), 400,
       "unsupported_image_url"},
      {"file URL disabled", UserContent(json::array({ImagePart("file:///etc/passwd")})).dump(), 400,
       "local_files_disabled"},
      {"bytes not an image", UserContent(json::array({ImagePart(not_an_image)})).dump(), 400, ""},
      {"too many images",
       UserContent(json::array({ImagePart(image), ImagePart(image), ImagePart(image), {{"type", "text"}, {"text", "x"}}}))
           .dump(),
       400, "too_many_images"},
      {"prompt + max_tokens over the context", UserContent("hello", 2048).dump(), 400, "context_length_exceeded"},
      {"image tag in text", UserContent("look: <image>").dump(), 400, "invalid_value"},
  };
  for (const Case& c : cases) {
    ExpectError(PostRaw(*server_, chat, c.body), c.status, c.code, c.what);
    // The same through the streaming path: still a plain 4xx before any event.
    json j = json::parse(c.body, nullptr, false);
    if (c.status == 400 && j.is_object() && j.contains("messages") && c.code != "invalid_type") {
      j["stream"] = true;
      ExpectError(PostRaw(*server_, chat, j.dump()), c.status, c.code, c.what + " (stream)");
    }
  }
  ExpectError(PostJson(*server_, "/v1/completions", {{"prompt", 7}}), 400, "invalid_type", "completion prompt type");
  ExpectError(PostJson(*server_, "/v1/completions", {{"prompt", {-1}}}), 400, "invalid_value", "negative token id");
  ExpectError(PostJson(*server_, "/detokenize", {{"tokens", {1000000}}}), 400, "invalid_value", "detokenize range");
  ExpectError(Get(*server_, "/no/such/path"), 404, "not_found", "unknown path");

  // Still serving.
  const Reply ok = PostJson(*server_, chat, UserContent("still there?"));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Get(*server_, "/health").status, 200);
}

TEST_F(ServeErrors, ImageTooBig) {
  ServerOptions o = TinyOptions();
  o.model.limits.max_image_pixels = 10000;  // 640 x 480 is over
  Running small = Start(o);
  ExpectError(PostJson(small, "/v1/chat/completions", UserContent(json::array({ImagePart(ImageDataUri("A_640x480.jpg"))}))),
              400, "limit_exceeded", "image pixels");
  EXPECT_EQ(PostJson(small, "/v1/chat/completions", UserContent("fine")).status, 200);
}

TEST(ServeLocalFiles, OnlyUnderTheAllowedDirectory) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("dsvl_serve_files_" + std::to_string(::getpid()));
  fs::create_directories(dir / "allowed");
  fs::copy_file(FixtureDir() + "/images/D_17x23.png", dir / "allowed" / "d.png", fs::copy_options::overwrite_existing);
  fs::copy_file(FixtureDir() + "/images/D_17x23.png", dir / "outside.png", fs::copy_options::overwrite_existing);
  std::error_code ec;
  fs::create_symlink(dir / "outside.png", dir / "allowed" / "link.png", ec);
  ServerOptions o = TinyOptions();
  o.allow_local_files = (dir / "allowed").string();
  Running r = Start(o);
  auto ask = [&](const std::string& path) {
    return PostJson(r, "/v1/chat/completions", UserContent(json::array({ImagePart("file://" + path)})));
  };
  EXPECT_EQ(ask((dir / "allowed" / "d.png").string()).status, 200);
  ExpectError(ask((dir / "outside.png").string()), 403, "forbidden_path", "outside");
  ExpectError(ask((dir / "allowed" / ".." / "outside.png").string()), 403, "forbidden_path", "dot-dot");
  if (!ec) ExpectError(ask((dir / "allowed" / "link.png").string()), 403, "forbidden_path", "symlink out");
  ExpectError(ask((dir / "allowed" / "missing.png").string()), 403, "forbidden_path", "missing");
  fs::remove_all(dir);
}

TEST(ServeAuth, BearerTokenWhenKeySet) {
  ServerOptions o = TinyOptions();
  o.api_key = "sk-test-123";
  Running r = Start(o);
  const json body = UserContent("hi");
  ExpectError(PostJson(r, "/v1/chat/completions", body), 401, "invalid_api_key", "no key");
  ExpectError(PostJson(r, "/v1/chat/completions", body, "sk-test-124"), 401, "invalid_api_key", "wrong key");
  ExpectError(PostJson(r, "/v1/chat/completions", body, "sk-test-1234"), 401, "invalid_api_key", "longer key");
  ExpectError(Get(r, "/v1/models"), 401, "invalid_api_key", "models without key");
  EXPECT_EQ(PostJson(r, "/v1/chat/completions", body, "sk-test-123").status, 200);
  EXPECT_EQ(Get(r, "/v1/models", "sk-test-123").status, 200);
  EXPECT_EQ(Get(r, "/health").status, 200);  // probes need no key

  ServerOptions open = TinyOptions();
  Running r2 = Start(open);
  EXPECT_EQ(PostJson(r2, "/v1/chat/completions", body).status, 200);
  EXPECT_EQ(PostJson(r2, "/v1/chat/completions", body, "anything").status, 200);
}

}  // namespace
}  // namespace dsvl::serve::test

namespace dsvl::serve::test {
namespace {

// A checkpoint that fails to load: the port still answers, /health says why (500), and the API
// endpoints give 503 instead of touching a missing model.
TEST(ServeLoad, FailedLoadIsReportedNotCrashed) {
  ServerOptions o = TinyOptions();
  o.model.dir = FixtureDir() + "/no_such_checkpoint";
  Server server(o);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_FALSE(server.WaitReady().ok());
  Running r;
  r.port = server.port();
  const Reply h = Get(r, "/health");
  EXPECT_EQ(h.status, 500) << h.body;
  EXPECT_EQ(h.j["status"], "error");
  ExpectError(PostJson(r, "/v1/chat/completions", UserContent("hi")), 503, "load_failed", "chat");
  ExpectError(PostJson(r, "/tokenize", {{"content", "hi"}}), 503, "load_failed", "tokenize");
  EXPECT_EQ(Get(r, "/metrics").status, 200);
}

// Bytes that are not HTTP, or HTTP with absurd headers, get an error or a closed connection, and
// the server keeps answering.
TEST(ServeLoad, GarbageOnTheSocket) {
  Running r = Start(TinyOptions());
  const std::vector<std::string> junks = {std::string("\x00\xff\x13garbage\r\n\r\n", 15), "GET / HTTP/9.9\r\n\r\n",
                                 "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                                 "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                                 "GET /health HTTP/1.1\r\nX: " + std::string(100000, 'a') + "\r\n\r\n"};
  for (const std::string& junk : junks) {
    RawClient c(r.port);
    ::send(c.fd(), junk.data(), junk.size(), MSG_NOSIGNAL);
    const std::string reply = c.ReadSome(1, 5000);
    EXPECT_TRUE(reply.empty() || reply.rfind("HTTP/1.1 4", 0) == 0) << reply.substr(0, 200);
  }
  EXPECT_EQ(Get(r, "/health").status, 200);
  EXPECT_EQ(PostJson(r, "/v1/chat/completions", UserContent("still here")).status, 200);
}

}  // namespace
}  // namespace dsvl::serve::test
