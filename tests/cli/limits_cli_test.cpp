// Limits as a CLI user meets them: `dsvl inspect` on a config with absurd sizes refuses at once
// (it used to loop for minutes), and `dsvl run --max-images / --max-image-pixels` set the request
// limits.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace dsvl {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs dsvl under timeout(1): a hang shows as status 124 instead of blocking the suite.
CliRun Dsvl(const std::string& args) {
  const std::string cmd = "timeout 60 " + std::string(DSVL_BIN_DIR) + "/dsvl " + args + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string Fixture(const std::string& rel) { return (fs::path(DSVL_TEST_DATA_DIR) / "fixtures" / rel).string(); }

class LimitsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(std::string(DSVL_BIN_DIR) + "/dsvl")) GTEST_SKIP() << "dsvl binary not built";
    dir_ = fs::temp_directory_path() /
           ("dsvl_limits_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(LimitsCli, InspectRefusesAbsurdConfigAtOnce) {
  for (const char* f : {"model.safetensors", "processor_config.json", "tokenizer.json", "tokenizer_config.json"}) {
    fs::create_symlink(fs::path(Fixture("vl2_tiny/ckpt")) / f, dir_ / f);
  }
  nlohmann::json config;
  std::ifstream(Fixture("vl2_tiny/ckpt/config.json")) >> config;
  config["language_config"]["num_hidden_layers"] = 1000000000;
  config["language_config"]["n_routed_experts"] = 100000;
  std::ofstream(dir_ / "config.json") << config.dump();
  const CliRun r = Dsvl("inspect -m " + dir_.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("config.json: language_config.num_hidden_layers: expected at most 1024, got 1000000000"),
            std::string::npos)
      << r.output;
}

TEST_F(LimitsCli, RunTakesImageLimitFlags) {
  const std::string model = Fixture("vl2_tiny/ckpt");
  const std::string image = Fixture("images/D_17x23.png");
  CliRun r = Dsvl("run -m " + model + " --image " + image + " --image " + image +
                  " --max-images 1 -n 1 -t 1 -p 'Compare.'");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("request: images: expected at most 1 in the conversation (InputLimits::max_images), got 2"),
            std::string::npos)
      << r.output;
  r = Dsvl("run -m " + model + " --image " + image + " --max-image-pixels 100 -n 1 -t 1 -p 'Describe.'");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("image size: expected at most 100 pixels, got 17x23"), std::string::npos) << r.output;
  r = Dsvl("run -m " + model + " --image " + image + " --max-images 0 -p 'x'");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("--max-images"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace dsvl
