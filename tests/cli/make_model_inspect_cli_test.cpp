// `dsvl make-model` and `dsvl inspect` as a user runs them: exit status 0 for a good model and 1
// with the problems listed for a broken one, --json output, clear errors for bad flags.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int status = -1;
  std::string output;  // stdout and stderr together
};

CliRun Dsvl(const std::string& args) {
  const std::string cmd = std::string(DSVL_BIN_DIR) + "/dsvl " + args + " 2>&1";
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

class MakeModelInspectCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(std::string(DSVL_BIN_DIR) + "/dsvl")) GTEST_SKIP() << "dsvl binary not built";
    dir_ = fs::temp_directory_path() /
           ("dsvl_mm_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(MakeModelInspectCli, TinyModelThenInspectOk) {
  const std::string out = (dir_ / "vl2").string();
  const CliRun made = Dsvl("make-model --arch deepseek-vl2-tiny --tiny --seed 3 --out " + out);
  ASSERT_EQ(made.status, 0) << made.output;
  EXPECT_NE(made.output.find("deepseek-vl2-tiny (tiny)"), std::string::npos) << made.output;
  const CliRun text = Dsvl("inspect -m " + out);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("status        OK"), std::string::npos) << text.output;
  const CliRun js = Dsvl("inspect --json -m " + out);
  ASSERT_EQ(js.status, 0) << js.output;
  const auto j = nlohmann::json::parse(js.output);
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(j["family"], "deepseek-vl2");
  const CliRun tok = Dsvl("tokenize -m " + out + " -p '<|User|>: hi <image>'");
  ASSERT_EQ(tok.status, 0) << tok.output;
  const auto t = nlohmann::json::parse(tok.output);
  EXPECT_EQ(t["ids"][0], 506);  // <|User|> at its tiny id
  EXPECT_EQ(t["decoded"], "<|User|>: hi <image>");
}

TEST_F(MakeModelInspectCli, BrokenModelExitsOneAndNamesTensors) {
  const std::string out = (dir_ / "v1").string();
  ASSERT_EQ(Dsvl("make-model --arch deepseek-vl-1.3b --tiny --dtype f32 --out " + out).status, 0);
  const std::string dropped = "language_model.model.layers.0.mlp.down_proj.weight";
  {
    auto w = WeightStore::Open(out);
    std::vector<TensorToWrite> keep;
    for (const auto& [name, info] : w->tensors())
      if (name != dropped) keep.push_back({name, info.view});
    WriteSafetensors((dir_ / "model.safetensors").string(), keep);
  }
  fs::rename(dir_ / "model.safetensors", fs::path(out) / "model.safetensors");
  const CliRun r = Dsvl("inspect -m " + out);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("missing     " + dropped + " [96, 256]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PROBLEMS FOUND"), std::string::npos) << r.output;
  const CliRun js = Dsvl("inspect --json -m " + out);
  EXPECT_EQ(js.status, 1);
  const auto j = nlohmann::json::parse(js.output);
  EXPECT_FALSE(j["ok"].get<bool>());
  ASSERT_EQ(j["problems"].size(), 1u);
  EXPECT_EQ(j["problems"][0]["name"], dropped);
}

TEST_F(MakeModelInspectCli, ConfigOnlyFullSizePrintsParameterCounts) {
  const CliRun r =
      Dsvl("make-model --arch deepseek-vl2 --config-only --out " + (dir_ / "base").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("27.480B parameters, 4.902B active per token"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "base" / "model.safetensors"));
}

TEST_F(MakeModelInspectCli, BadArgumentsFailCleanly) {
  const CliRun arch = Dsvl("make-model --arch deepseek-vl9 --tiny --out " + (dir_ / "x").string());
  EXPECT_EQ(arch.status, 1) << arch.output;
  EXPECT_NE(arch.output.find("--arch"), std::string::npos) << arch.output;
  const CliRun dtype =
      Dsvl("make-model --arch deepseek-vl2 --tiny --dtype f64 --out " + (dir_ / "y").string());
  EXPECT_EQ(dtype.status, 1) << dtype.output;
  EXPECT_NE(dtype.output.find("--dtype"), std::string::npos) << dtype.output;
  const CliRun missing = Dsvl("inspect -m " + (dir_ / "does-not-exist").string());
  EXPECT_EQ(missing.status, 1) << missing.output;
  EXPECT_NE(missing.output.find("does-not-exist"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace dsvl
