// `dsvl chat` end to end through pipes: the slash commands, the per-turn timing line that shows a
// follow-up turn reusing the cache (no second image encode), /save's JSON, and Ctrl-C (SIGINT)
// stopping an answer without ending the chat.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

const std::string kVl2 = std::string(DSVL_TEST_DATA_DIR) + "/fixtures/vl2_tiny/ckpt";
const std::string kImageA = std::string(DSVL_TEST_DATA_DIR) + "/fixtures/images/A_640x480.jpg";

// A running `dsvl chat` with its stdin, stdout and stderr on pipes.
class ChatProcess {
 public:
  explicit ChatProcess(std::vector<std::string> args) {
    int in[2], out[2], err[2];
    EXPECT_EQ(pipe(in), 0);
    EXPECT_EQ(pipe(out), 0);
    EXPECT_EQ(pipe(err), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
      const std::string bin = std::string(DSVL_BIN_DIR) + "/dsvl";
      std::vector<char*> argv{const_cast<char*>(bin.c_str()), const_cast<char*>("chat")};
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
  }
  ~ChatProcess() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_})
      if (fd >= 0) close(fd);
  }
  void Send(const std::string& s) { ASSERT_EQ(write(in_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void CloseStdin() {
    close(in_);
    in_ = -1;
  }
  void Signal(int sig) { kill(pid_, sig); }
  // Reads stdout/stderr until `pred(out, err)` holds or the deadline passes.
  template <typename Pred>
  bool ReadUntil(Pred pred, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred(out, err)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
      if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      bool eof = true;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) {
          eof = false;
          continue;
        }
        const ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
          eof = false;
        }
      }
      if (eof) return pred(out, err);
    }
    return true;
  }
  // Waits for exit (reading what is left); returns the exit status, or -signal.
  int Wait() {
    ReadUntil([](const std::string&, const std::string&) { return false; }, std::chrono::seconds(120));
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  std::string out, err;

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool waited_ = false;
};

std::vector<std::string> TimingLines(const std::string& err) {
  std::vector<std::string> lines;
  std::regex re(R"(\[\d+ tokens, [a-z]+; prompt (\d+) tokens, (\d+) cached; image encode (\d+) ms;[^\n]*\])");
  for (std::sregex_iterator it(err.begin(), err.end(), re), end; it != end; ++it) lines.push_back(it->str());
  return lines;
}

long Field(const std::string& line, int group) {
  std::smatch m;
  std::regex re(R"(prompt (\d+) tokens, (\d+) cached; image encode (\d+) ms)");
  if (!std::regex_search(line, m, re)) return -1;
  return std::stol(m[group].str());
}

TEST(ChatCli, CommandsTimingAndSave) {
  const fs::path saved = fs::temp_directory_path() / ("dsvl_chat_" + std::to_string(getpid()) + ".json");
  ChatProcess chat({"-m", kVl2, "-n", "4", "--ignore-eos", "-t", "2"});
  chat.Send("/image " + kImageA + "\nDescribe it.\nAnd more?\n/save " + saved.string() +
            "\n/bogus\n/clear\nHi\n");
  chat.CloseStdin();
  ASSERT_EQ(chat.Wait(), 0) << chat.err;

  const std::vector<std::string> t = TimingLines(chat.err);
  ASSERT_EQ(t.size(), 3u) << chat.err;
  // Turn 1 encodes the image; turn 2 reuses turn 1 from the cache (prompt minus the new message)
  // and encodes nothing; after /clear nothing is cached.
  EXPECT_EQ(Field(t[0], 2), 0);
  EXPECT_GT(Field(t[0], 3), 0) << t[0];
  EXPECT_GT(Field(t[1], 2), Field(t[0], 1)) << t[1];
  EXPECT_EQ(Field(t[1], 3), 0) << t[1];
  EXPECT_EQ(Field(t[2], 2), 0) << t[2];
  EXPECT_NE(chat.err.find("unknown command /bogus"), std::string::npos) << chat.err;
  // Three answers on stdout, one per line.
  EXPECT_EQ(std::count(chat.out.begin(), chat.out.end(), '\n'), 3) << chat.out;

  std::ifstream f(saved);
  ASSERT_TRUE(f) << "no " << saved;
  const nlohmann::json doc = nlohmann::json::parse(f);
  const nlohmann::json& m = doc.at("messages");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].at("role"), "user");
  EXPECT_EQ(m[0].at("content"), "Describe it.");
  EXPECT_EQ(m[0].at("images"), nlohmann::json::array({kImageA}));
  EXPECT_EQ(m[1].at("role"), "assistant");
  EXPECT_EQ(m[3].at("role"), "assistant");
  fs::remove(saved);
}

TEST(ChatCli, CtrlCStopsTheAnswerNotTheChat) {
  // An answer long enough to still be streaming when the signal arrives (the tiny model decodes
  // thousands of tokens per second; the context bounds it at 4096).
  ChatProcess chat({"-m", kVl2, "-n", "100000", "--ignore-eos", "-t", "2", "-c", "4096"});
  chat.Send("Hello\n");
  ASSERT_TRUE(chat.ReadUntil([](const std::string& out, const std::string&) { return out.size() >= 8; },
                             std::chrono::seconds(60)))
      << chat.err;
  chat.Signal(SIGINT);
  ASSERT_TRUE(chat.ReadUntil([](const std::string&, const std::string& err) { return !TimingLines(err).empty(); },
                             std::chrono::seconds(60)))
      << chat.err;
  EXPECT_NE(chat.err.find("(stopped)"), std::string::npos) << chat.err;
  EXPECT_NE(TimingLines(chat.err)[0].find("cancelled"), std::string::npos) << chat.err;
  // Still chatting: the next turn is answered, and it continues the (cut) conversation.
  chat.Send("Again\n/quit\n");
  EXPECT_EQ(chat.Wait(), 0) << chat.err;
  const std::vector<std::string> t = TimingLines(chat.err);
  ASSERT_EQ(t.size(), 2u) << chat.err;
  EXPECT_GT(Field(t[1], 2), 0) << t[1];
}

}  // namespace
