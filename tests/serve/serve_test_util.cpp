#include "serve_test_util.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "serve/base64.h"

namespace dsvl::serve::test {

std::string FixtureDir() { return std::string(DSVL_TEST_DATA_DIR) + "/fixtures"; }
std::string TinyVl2() { return FixtureDir() + "/vl2_tiny/ckpt"; }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string ImageDataUri(const std::string& fixture_image) {
  const std::string bytes = ReadFile(FixtureDir() + "/images/" + fixture_image);
  EXPECT_FALSE(bytes.empty()) << fixture_image;
  const bool png = fixture_image.size() > 4 && fixture_image.substr(fixture_image.size() - 4) == ".png";
  return std::string("data:image/") + (png ? "png" : "jpeg") + ";base64," +
         EncodeBase64(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

ServerOptions TinyOptions() {
  ServerOptions o;
  o.model.dir = TinyVl2();
  o.model.threads = 1;
  o.port = 0;
  o.shutdown_grace_s = 5;
  return o;
}

httplib::Client Running::Client(const std::string& api_key) const {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  c.set_write_timeout(30, 0);
  if (!api_key.empty()) c.set_bearer_token_auth(api_key.c_str());
  return c;
}

Running Start(ServerOptions options) {
  Running r;
  r.server = std::make_unique<Server>(std::move(options));
  Status s = r.server->Start();
  if (!s.ok()) {
    ADD_FAILURE() << "server start: " << s.ToString();
    return r;
  }
  r.port = r.server->port();
  s = r.server->WaitReady();
  if (!s.ok()) ADD_FAILURE() << "model load: " << s.ToString();
  return r;
}

namespace {

Reply ToReply(const httplib::Result& res) {
  Reply out;
  if (!res) {
    out.status = -1;
    out.body = "no response: " + httplib::to_string(res.error());
    return out;
  }
  out.status = res->status;
  out.body = res->body;
  out.retry_after = res->get_header_value("Retry-After");
  out.j = json::parse(out.body, nullptr, false);
  if (out.j.is_discarded()) out.j = nullptr;
  return out;
}

}  // namespace

Reply PostRaw(const Running& r, const std::string& path, const std::string& body, const std::string& api_key) {
  httplib::Client c = r.Client(api_key);
  return ToReply(c.Post(path.c_str(), body, "application/json"));
}

Reply PostJson(const Running& r, const std::string& path, const json& body, const std::string& api_key) {
  return PostRaw(r, path, body.dump(), api_key);
}

Reply Get(const Running& r, const std::string& path, const std::string& api_key) {
  httplib::Client c = r.Client(api_key);
  return ToReply(c.Get(path.c_str()));
}

std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(pos, end - pos);
    if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
    else if (!event.empty()) out.push_back("<malformed event: " + event + ">");
    pos = end + 2;
  }
  return out;
}

double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

RawClient::RawClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Close();
}

RawClient::~RawClient() { Close(); }

bool RawClient::Send(const std::string& path, const std::string& body) {
  if (fd_ < 0) return false;
  const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return ::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
}

std::string RawClient::ReadSome(size_t at_least, int timeout_ms) {
  std::string out;
  char buf[4096];
  while (fd_ >= 0 && out.size() < at_least) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void RawClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace dsvl::serve::test
