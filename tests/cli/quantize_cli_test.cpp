// `dsvl quantize`, `--quant` on run and `make-model --quant` through the binary: the flags reach
// the library, the quantised directory runs with the same tokens as in-memory quantisation, and
// misuse exits with status 1 and a message naming the flag.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "run_dsvl.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

using Result = test::DsvlResult;
using test::ReadFile;

class QuantizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsvl_quantize_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result Dsvl(const std::string& args) { return test::RunDsvl(dir_, args); }

  fs::path dir_;
};

const std::string kVl2 = std::string(DSVL_TEST_DATA_DIR) + "/fixtures/vl2_tiny/ckpt";

std::string Ids(const std::string& json_text) {
  return nlohmann::json::parse(json_text).at("ids").dump();
}

TEST_F(QuantizeCli, QuantizedDirectoryRunsLikeQuantAtLoad) {
  const std::string out = (dir_ / "q4").string();
  const Result q = Dsvl("quantize -m " + kVl2 + " --type q4_k --quant-lm-head q8_0 -t 2 --out " + out);
  ASSERT_EQ(q.status, 0) << q.err;
  EXPECT_NE(q.out.find("block-quantised"), std::string::npos) << q.out;
  EXPECT_NE(q.err.find("quantize: 100%"), std::string::npos) << q.err;

  const std::string prompt = " --prompt-ids 0,10,11,12 -n 5 --json";
  const Result a = Dsvl("run -m " + out + prompt);
  const Result b = Dsvl("run -m " + kVl2 + " --quant q4_k" + prompt);
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(Ids(a.out), Ids(b.out));

  const Result again = Dsvl("quantize -m " + kVl2 + " --type q8_0 --out " + out);
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  const Result requant = Dsvl("run -m " + out + " --quant q8_0" + prompt);
  EXPECT_EQ(requant.status, 1);
  EXPECT_NE(requant.err.find("already"), std::string::npos) << requant.err;

  const Result inspect = Dsvl("inspect -m " + out);
  EXPECT_EQ(inspect.status, 0) << inspect.out;
  EXPECT_NE(inspect.out.find("dtype         Q4_0"), std::string::npos) << inspect.out;
}

TEST_F(QuantizeCli, BadTypesExitWithTheFlagNamed) {
  const Result r = Dsvl("run -m " + kVl2 + " --quant q5_1 --prompt-ids 0,1 -n 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--quant"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("q5_1"), std::string::npos) << r.err;
  const Result v = Dsvl("quantize -m " + kVl2 + " --type q8_0 --quant-vision int8 --out " + (dir_ / "x").string());
  EXPECT_EQ(v.status, 1);
  EXPECT_NE(v.err.find("--quant-vision"), std::string::npos) << v.err;
}

TEST_F(QuantizeCli, MakeModelWritesQuantisedWeights) {
  const std::string out = (dir_ / "made").string();
  const Result m = Dsvl("make-model --arch deepseek-vl2-small --tiny --quant q8_0 --out " + out);
  ASSERT_EQ(m.status, 0) << m.err;
  const Result inspect = Dsvl("inspect -m " + out + " --json");
  ASSERT_EQ(inspect.status, 0) << inspect.out;
  const nlohmann::json j = nlohmann::json::parse(inspect.out);
  EXPECT_TRUE(j.at("dtypes").contains("Q8_0")) << inspect.out;
  const Result run = Dsvl("run -m " + out + " --prompt-ids 0,10,11 -n 2 --json");
  EXPECT_EQ(run.status, 0) << run.err;
}

}  // namespace
}  // namespace dsvl
