// `dsvl serve` as a process: it prints its port, serves, and on SIGTERM / SIGINT stops cleanly
// (exit status 0) while a stream is running: the stream is cut within --shutdown-timeout and still
// ends with "data: [DONE]".
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include "serve_test_util.h"

namespace dsvl::serve::test {
namespace {

namespace fs = std::filesystem;

struct Child {
  pid_t pid = -1;
  fs::path log;
};

Child Spawn(const std::vector<std::string>& args, const fs::path& log) {
  Child c;
  c.log = log;
  c.pid = fork();
  if (c.pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) dup2(fileno(f), 2);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return c;
}

// Waits for `pattern` in the child's stderr; returns the first capture group.
std::string WaitForLog(const Child& c, const std::string& pattern, int timeout_ms) {
  const std::regex re(pattern);
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    std::smatch m;
    const std::string text = ReadFile(c.log.string());
    if (std::regex_search(text, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

// Exit status, or -1 if it did not exit in time (then it is killed).
int WaitExit(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

class ServeProcess : public ::testing::TestWithParam<int> {};

TEST_P(ServeProcess, SignalStopsCleanlyDuringAStream) {
  const fs::path log = fs::temp_directory_path() / ("dsvl_serve_" + std::to_string(getpid()) + ".log");
  Child c = Spawn({std::string(DSVL_BIN_DIR) + "/dsvl", "serve", "-m", TinyVl2(), "--port", "0", "-t", "1",
                   "--shutdown-timeout", "0.3"},
                  log);
  ASSERT_GT(c.pid, 0);
  const std::string port = WaitForLog(c, "listening on http://127\\.0\\.0\\.1:([0-9]+)", 20000);
  ASSERT_FALSE(port.empty()) << ReadFile(log.string());
  ASSERT_FALSE(WaitForLog(c, "model loaded", 20000).empty()) << ReadFile(log.string());

  RawClient stream(std::stoi(port));
  ASSERT_TRUE(stream.Send("/v1/chat/completions",
                          json{{"messages", {{{"role", "user"}, {"content", "Go on"}}}},
                               {"max_tokens", 4000}, {"ignore_eos", true}, {"n", 8}, {"stream", true}}
                              .dump()));
  std::string all = stream.ReadSome(200, 20000);
  ASSERT_NE(all.find("data: "), std::string::npos) << all;
  ASSERT_EQ(kill(c.pid, GetParam()), 0);
  while (true) {
    const std::string more = stream.ReadSome(1, 20000);
    if (more.empty()) break;
    all += more;
  }
  EXPECT_NE(all.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(WaitExit(c.pid, 20000), 0) << ReadFile(log.string());
  const std::string text = ReadFile(log.string());
  EXPECT_NE(text.find("dsvl serve: stopped"), std::string::npos) << text;
  fs::remove(log);
}

INSTANTIATE_TEST_SUITE_P(Signals, ServeProcess, ::testing::Values(SIGTERM, SIGINT));

}  // namespace
}  // namespace dsvl::serve::test
