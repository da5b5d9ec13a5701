// Running the built `dsvl` binary from the CLI tests: arguments through the shell, stdin from a
// string, stdout/stderr captured through files in a scratch directory.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace dsvl::test {

inline std::string ShellQuote(const std::string& s) {  // shell single-quoting
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct DsvlResult {
  int status = -1;  // exit status (-1: killed by a signal)
  int signal = 0;
  std::string out, err;
};

// `dsvl <args>` (args are shell words: quote paths with ShellQuote when they may hold spaces).
inline DsvlResult RunDsvl(const std::filesystem::path& scratch, const std::string& args, const std::string& input = "") {
  const std::filesystem::path in = scratch / "stdin", out = scratch / "stdout", err = scratch / "stderr";
  std::ofstream(in, std::ios::binary) << input;
  const std::string cmd = ShellQuote(std::string(DSVL_BIN_DIR) + "/dsvl") + " " + args + " < " + ShellQuote(in.string()) +
                          " > " + ShellQuote(out.string()) + " 2> " + ShellQuote(err.string());
  const int raw = std::system(cmd.c_str());
  DsvlResult r;
  if (WIFEXITED(raw)) {
    r.status = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    r.signal = WTERMSIG(raw);
  }
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

}  // namespace dsvl::test
