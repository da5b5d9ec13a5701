// Helpers for the server tests: an in-process dsvl::serve::Server on a free loopback port (bound to
// port 0) over a tiny fixture checkpoint, JSON requests, SSE parsing, images as data: URIs, and a
// raw socket client that can walk away mid-stream.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/server.h"

namespace dsvl::serve::test {

using json = nlohmann::json;

std::string FixtureDir();                       // tests/data/fixtures
std::string TinyVl2();                          // the vl2_tiny checkpoint
std::string ImageDataUri(const std::string& fixture_image);  // e.g. "A_640x480.jpg"
std::string ReadFile(const std::string& path);

ServerOptions TinyOptions();  // vl2_tiny, port 0, 1 thread

struct Running {
  std::unique_ptr<Server> server;
  int port = 0;
  httplib::Client Client(const std::string& api_key = "") const;
};
Running Start(ServerOptions options);  // fails the test (ADD_FAILURE) if it cannot start or load

struct Reply {
  int status = 0;
  std::string body;
  json j;  // parsed body (null if not JSON)
  std::string retry_after;
};
Reply PostJson(const Running& r, const std::string& path, const json& body, const std::string& api_key = "");
Reply PostRaw(const Running& r, const std::string& path, const std::string& body, const std::string& api_key = "");
Reply Get(const Running& r, const std::string& path, const std::string& api_key = "");

// The "data: ..." payloads of an SSE body, in order ("[DONE]" included as a string).
std::vector<std::string> SseData(const std::string& body);

// A metric's value from /metrics text (-1 when absent).
double MetricValue(const std::string& metrics_text, const std::string& name);

// A plain TCP connection that sends one HTTP request and reads as much as asked.
class RawClient {
 public:
  explicit RawClient(int port);
  ~RawClient();
  bool Send(const std::string& path, const std::string& body);
  std::string ReadSome(size_t at_least, int timeout_ms);  // returns what arrived
  void Close();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace dsvl::serve::test
