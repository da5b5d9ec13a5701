// The `dsvl` binary end to end: tokenize against the reference tokenizer cases, run on the tiny
// fixture checkpoints against the official greedy ids, the --json shape, error exits (status 1 with a
// message naming the culprit, never a crash), --draw-boxes and the interactive chat.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsvl/dsvl.h"
#include "io/image_decode.h"
#include "model/chat_format.h"
#include "model/prompt_builder.h"
#include "npy.h"
#include "run_dsvl.h"
#include "text/tokenizer.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Ids = std::vector<int64_t>;

using test::ReadFile;
std::string Q(const std::string& s) { return test::ShellQuote(s); }

std::string Data(const std::string& rel) { return std::string(DSVL_TEST_DATA_DIR) + "/" + rel; }
const std::string kVl2 = Data("fixtures/vl2_tiny/ckpt");
const std::string kV1 = Data("fixtures/v1_hybrid/ckpt");
const std::string kImageA = Data("fixtures/images/A_640x480.jpg");

using Result = test::DsvlResult;

class Cli : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("dsvl_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // Runs `dsvl <args>` with stdin from `input`, capturing stdout and stderr.
  static Result Dsvl(const std::string& args, const std::string& input = "") {
    return test::RunDsvl(dir_, args, input);
  }

  // First `n` official greedy ids of a fixture case, and its prompt with BOS and the image id.
  static std::pair<Ids, std::string> OracleCase(const std::string& family, int64_t bos, int64_t image_id,
                                                size_t n) {
    std::ifstream f(Data("fixtures/" + family + "/fp32/A/case.json"));
    const json c = json::parse(f);
    std::string ids = std::to_string(bos);
    for (const json& item : c.at("prompt_spec")) {
      ids += ',';
      ids += std::to_string(item.is_string() ? image_id : item.get<int64_t>());
    }
    const Ids greedy = c.at("greedy").at("ids").get<Ids>();
    return {Ids(greedy.begin(), greedy.begin() + n), ids};
  }

  static inline fs::path dir_;
};

void ExpectCleanFailure(const Result& r, const std::string& must_mention) {
  EXPECT_EQ(r.signal, 0) << "crashed: " << r.err;
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find(must_mention), std::string::npos) << "stderr does not mention " << must_mention << ":\n"
                                                          << r.err;
}

// ---- tokenize -------------------------------------------------------------------------------------

void CheckTokenizeCases(const std::string& tokenizer_dir, size_t max_lines) {
  std::ifstream cases(Data("tokenizers/" + tokenizer_dir + "/cases.jsonl"));
  std::vector<json> want;
  std::string input, line;
  while (want.size() < max_lines && std::getline(cases, line)) {
    const json c = json::parse(line);
    want.push_back(c);
    input += json{{"text", c.at("text")}}.dump() + "\n";
  }
  ASSERT_EQ(want.size(), max_lines);
  const Result r = Cli::Dsvl("tokenize -m " + Q(Data("tokenizers/" + tokenizer_dir)) + " --jsonl", input);
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream out(r.out);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(std::getline(out, line)) << "missing output line " << i;
    const json got = json::parse(line);
    EXPECT_EQ(got.at("ids"), want[i].at("ids")) << tokenizer_dir << " line " << i;
    EXPECT_EQ(got.at("decoded"), want[i].at("decoded")) << tokenizer_dir << " line " << i;
  }
  EXPECT_FALSE(std::getline(out, line)) << "extra output: " << line;
}

TEST_F(Cli, TokenizeJsonlReproducesTheV3Cases) { CheckTokenizeCases("deepseek-v3", 25); }
TEST_F(Cli, TokenizeJsonlReproducesTheDeepSeekLlmCases) { CheckTokenizeCases("deepseek-llm", 25); }

TEST_F(Cli, TokenizePromptAndAddSpecial) {
  const Result plain = Dsvl("tokenize -m " + Q(kVl2) + " -p " + Q("<|User|>: hi"));
  ASSERT_EQ(plain.status, 0) << plain.err;
  const json j = json::parse(plain.out);
  EXPECT_EQ(j.at("decoded"), "<|User|>: hi");
  EXPECT_EQ(j.at("ids").at(0), 506);
  const Result bos = Dsvl("tokenize -m " + Q(kVl2) + " --add-special -p hi");
  ASSERT_EQ(bos.status, 0) << bos.err;
  EXPECT_EQ(json::parse(bos.out).at("ids").at(0), 0);
}

TEST_F(Cli, TokenizeErrors) {
  ExpectCleanFailure(Dsvl("tokenize -m " + Q(kVl2)), "--jsonl");
  ExpectCleanFailure(Dsvl("tokenize -m " + Q(kVl2) + " --jsonl", "{\"text\": \"ok\"}\nnot json\n"),
                     "stdin line 2");
  ExpectCleanFailure(Dsvl("tokenize -m " + Q(kVl2) + " --jsonl", "{\"txt\": 1}\n"), "text");
  ExpectCleanFailure(Dsvl("tokenize -m " + Q((dir_ / "no_such_dir").string()) + " -p x"), "no_such_dir");
}

// ---- run: official greedy ids ----------------------------------------------------------------------

void CheckJsonShape(const json& j) {
  for (const char* key : {"ids", "text", "prompt_tokens", "finish_reason", "timings", "peak_rss_mb", "boxes",
                          "warnings"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
  }
  for (const char* key : {"load_ms", "image_encode_ms", "prefill_tok_s", "decode_tok_s"}) {
    ASSERT_TRUE(j.at("timings").contains(key)) << key;
    EXPECT_TRUE(j.at("timings").at(key).is_number()) << key;
    EXPECT_GE(j.at("timings").at(key).get<double>(), 0.0) << key;
  }
  EXPECT_TRUE(j.at("text").is_string());
  EXPECT_GT(j.at("peak_rss_mb").get<double>(), 0.0);
  EXPECT_GT(j.at("timings").at("load_ms").get<double>(), 0.0);
}

TEST_F(Cli, RunVl2TinyPromptIdsGivesTheOfficialGreedyIds) {
  const auto [want, prompt] = OracleCase("vl2_tiny", 0, 500, 4);
  const Result r = Dsvl("run -m " + Q(kVl2) + " --image " + Q(kImageA) + " --prompt-ids " + prompt +
                        " -n 4 --json --logprobs 3 -t 2");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  CheckJsonShape(j);
  EXPECT_EQ(j.at("ids").get<Ids>(), want);
  EXPECT_EQ(j.at("prompt_tokens"), 1032);  // the processor's seq_len (1023 image tokens)
  EXPECT_EQ(j.at("finish_reason"), "length");
  EXPECT_GT(j.at("timings").at("image_encode_ms").get<double>(), 0.0);
  ASSERT_EQ(j.at("logprobs").size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const json& step = j.at("logprobs").at(i);
    EXPECT_EQ(step.at("id"), want[i]);
    const json& top = step.at("top");
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top.at(0).at("id"), want[i]);  // greedy: the chosen id is the most likely
    EXPECT_EQ(top.at(0).at("logprob"), step.at("logprob"));
    EXPECT_LT(step.at("logprob").get<double>(), 0.0);
    EXPECT_GE(top.at(0).at("logprob").get<double>(), top.at(1).at("logprob").get<double>());
    EXPECT_GE(top.at(1).at("logprob").get<double>(), top.at(2).at("logprob").get<double>());
  }
  // The text is the decoded ids.
  auto tok = Tokenizer::Load(kVl2);
  EXPECT_EQ(j.at("text"), tok->Decode(want));
}

// --precision only changes products with bf16 weights: an fp32 checkpoint gives the official ids under every
// choice (this checks that the flag is parsed and reaches the model, not the bf16 numerics: see the fixture tests).
TEST_F(Cli, PrecisionFlagKeepsFp32Results) {
  const auto [want, prompt] = OracleCase("vl2_tiny", 0, 500, 4);
  for (const char* precision : {"auto", "f32", "bf16", "F32"}) {
    const Result r = Dsvl("run -m " + Q(kVl2) + " --image " + Q(kImageA) + " --prompt-ids " + prompt +
                          " -n 4 --json -t 2 --precision " + precision);
    ASSERT_EQ(r.status, 0) << precision << ": " << r.err;
    EXPECT_EQ(json::parse(r.out).at("ids").get<Ids>(), want) << precision;
  }
}

TEST_F(Cli, RunV1HybridPromptIdsGivesTheOfficialGreedyIds) {
  const auto [want, prompt] = OracleCase("v1_hybrid", 500, 502, 4);
  const Result r = Dsvl("run -m " + Q(kV1) + " --image " + Q(kImageA) + " --prompt-ids " + prompt + " -n 4 --json -t 2");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  CheckJsonShape(j);
  EXPECT_EQ(j.at("ids").get<Ids>(), want);
  EXPECT_EQ(j.at("prompt_tokens"), 585);
  EXPECT_FALSE(j.contains("logprobs"));  // only with --logprobs
}

// ---- run: text prompts -------------------------------------------------------------------------------

TEST_F(Cli, RunTextPromptFormatsTheChatTemplate) {
  const Result r = Dsvl("run -m " + Q(kVl2) + " -p " + Q("Describe it.") + " --image " + Q(kImageA) +
                        " -n 3 --json -t 2");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  CheckJsonShape(j);
  EXPECT_LE(j.at("ids").size(), 3u);
  EXPECT_GE(j.at("ids").size(), 1u);
  // prompt_tokens = the VL2 template's ids with the image expanded to 1023 rows.
  auto tok = Tokenizer::Load(kVl2);
  RegisterVl2SpecialTokens(*tok);
  ModelConfig config;
  config.family = ModelFamily::kDeepSeekVL2;
  const Ids ids = TokenizeConversation(config, *tok, {{ChatRole::kUser, "Describe it.", 1}}, "", 500);
  EXPECT_EQ(j.at("prompt_tokens").get<int64_t>(), static_cast<int64_t>(ids.size()) - 1 + 1023);

}

TEST_F(Cli, StreamingPrintsTheJsonTextAndANewline) {
  const Result j = Dsvl("run -m " + Q(kVl2) + " -p " + Q("Say something.") + " -n 5 --json -t 2");
  ASSERT_EQ(j.status, 0) << j.err;
  const Result s = Dsvl("run -m " + Q(kVl2) + " -p " + Q("Say something.") + " -n 5 -t 2");
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out, json::parse(j.out).at("text").get<std::string>() + "\n");
}

TEST_F(Cli, RunTextOnlyPromptV1) {
  const Result r = Dsvl("run -m " + Q(kV1) + " -p hello -n 2 --json -t 2");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  CheckJsonShape(j);
  auto tok = Tokenizer::Load(kV1);
  ModelConfig config;
  config.family = ModelFamily::kDeepSeekVL;
  const Ids ids = TokenizeConversation(config, *tok, {{ChatRole::kUser, "hello", 0}},
                                       DefaultSystemPrompt(ModelFamily::kDeepSeekVL), 502);
  EXPECT_EQ(j.at("prompt_tokens").get<int64_t>(), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(j.at("timings").at("image_encode_ms").get<double>(), 0.0);
}

TEST_F(Cli, RunSystemPromptReplacesTheDefaultV1) {
  const Result r = Dsvl("run -m " + Q(kV1) + " -p hello --system " + Q("Be brief.") + " -n 1 --json -t 2");
  ASSERT_EQ(r.status, 0) << r.err;
  auto tok = Tokenizer::Load(kV1);
  ModelConfig config;
  config.family = ModelFamily::kDeepSeekVL;
  const Ids ids = TokenizeConversation(config, *tok, {{ChatRole::kUser, "hello", 0}}, "Be brief.", 502);
  EXPECT_EQ(json::parse(r.out).at("prompt_tokens").get<int64_t>(), static_cast<int64_t>(ids.size()));
  ExpectCleanFailure(Dsvl("run -m " + Q(kV1) + " --prompt-ids 500,7 --system x -n 1"), "--system");
}

TEST_F(Cli, SamplingIsReproducibleForAFixedSeed) {
  const std::string base = "run -m " + Q(kVl2) + " -p " + Q("Tell a story.") + " -n 12 --json -t 2 --temp 1.5";
  const Result a = Dsvl(base + " --seed 11"), b = Dsvl(base + " --seed 11"), c = Dsvl(base + " --seed 12");
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  ASSERT_EQ(c.status, 0) << c.err;
  const Ids ia = json::parse(a.out).at("ids").get<Ids>();
  EXPECT_EQ(ia, json::parse(b.out).at("ids").get<Ids>());
  EXPECT_NE(ia, json::parse(c.out).at("ids").get<Ids>());
  // And differs from greedy.
  const Result g = Dsvl("run -m " + Q(kVl2) + " -p " + Q("Tell a story.") + " -n 12 --json -t 2");
  ASSERT_EQ(g.status, 0) << g.err;
  EXPECT_NE(ia, json::parse(g.out).at("ids").get<Ids>());
}

// ---- run: errors ----------------------------------------------------------------------------------------

// ---- bench / benchmark flags -------------------------------------------------------------------------

// --prompt-tokens N: exactly N prompt ids (BOS included), no image; -n 4 with EOS ignored: exactly 4.
// The byte counts: weights from the checkpoint, KV = layers x context x width x element bytes (the
// fp32 checkpoint's auto KV type is f32, --kv-type bf16 halves it).
TEST_F(Cli, BenchTextOnlyPromptOfNTokens) {
  for (const char* ckpt : {"vl2_tiny", "v1_hybrid"}) {
    const std::string m = Data(std::string("fixtures/") + ckpt + "/ckpt");
    const Result r = Dsvl("bench -m " + Q(m) + " --prompt-tokens 16 -n 4 -t 2 --mem-bw-gbs 20");
    ASSERT_EQ(r.status, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j.at("prompt_tokens").get<int64_t>(), 16) << ckpt;
    EXPECT_EQ(j.at("generated_tokens").get<int64_t>(), 4) << ckpt;
    EXPECT_EQ(j.at("kv_type"), "f32") << ckpt;
    EXPECT_GT(j.at("weight_bytes_per_token").get<int64_t>(), 0) << ckpt;
    const int64_t kv = j.at("kv_bytes_per_token").get<int64_t>();
    EXPECT_GT(kv, 0) << ckpt;
    EXPECT_EQ(kv % (16 + 4 - 1), 0) << "KV bytes are per token of the final context (19)";
    EXPECT_EQ(j.at("bytes_per_token").get<int64_t>(), j.at("weight_bytes_per_token").get<int64_t>() + kv);
    EXPECT_GT(j.at("decode_gb_s").get<double>(), 0.0);
    EXPECT_GT(j.at("bandwidth_fraction").get<double>(), 0.0);
    EXPECT_EQ(j.at("image_encode_ms").get<double>(), 0.0);
    EXPECT_FALSE(j.contains("vision_gflop"));

    const Result h = Dsvl("bench -m " + Q(m) + " --prompt-tokens 16 -n 4 -t 2 --kv-type bf16");
    ASSERT_EQ(h.status, 0) << h.err;
    const json jh = json::parse(h.out);
    EXPECT_EQ(jh.at("kv_type"), "bf16");
    EXPECT_EQ(jh.at("kv_bytes_per_token").get<int64_t>() * 2, kv) << ckpt;
    EXPECT_EQ(jh.at("weight_bytes_per_token"), j.at("weight_bytes_per_token"));
  }
  const Result bad = Dsvl("bench -m " + Q(kVl2) + " --kv-type f8");  // a CLI11 usage error, not a crash
  EXPECT_EQ(bad.signal, 0);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--kv-type"), std::string::npos) << bad.err;
}

// With an image: the vision FLOPs and rate, and the peak fraction when a peak is given.
TEST_F(Cli, BenchWithImageReportsVisionFlops) {
  const Result r = Dsvl("bench -m " + Q(kVl2) + " --image " + Q(kImageA) + " --prompt-tokens 8 -n 2 -t 2 --peak-gflops 100");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("prompt_tokens").get<int64_t>(), 8 + 1023);  // 8 text ids + the image id's 1023 rows
  EXPECT_EQ(j.at("generated_tokens").get<int64_t>(), 2);
  EXPECT_GE(j.at("vision_views").get<int64_t>(), 2);
  EXPECT_GT(j.at("vision_gflop").get<double>(), 0.0);
  EXPECT_GT(j.at("vision_gflop_s").get<double>(), 0.0);
  EXPECT_GT(j.at("peak_fraction").get<double>(), 0.0);
}

// run --ignore-eos generates exactly -n tokens; --kv-type is accepted (the answer stays greedy and
// deterministic either way).
TEST_F(Cli, RunIgnoreEosAndKvType) {
  const Result r = Dsvl("run -m " + Q(kVl2) + " -p hello -n 6 --ignore-eos --json -t 2 --kv-type bf16");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("ids").size(), 6u);
  EXPECT_EQ(j.at("finish_reason"), "length");
}

TEST_F(Cli, RunMissingModelDir) {
  const std::string missing = (dir_ / "no_model_here").string();
  ExpectCleanFailure(Dsvl("run -m " + Q(missing) + " -p hi -n 1"), "no_model_here");
}

TEST_F(Cli, RunCorruptAndTruncatedImages) {
  const fs::path garbage = dir_ / "garbage.jpg";
  std::ofstream(garbage, std::ios::binary) << "this is not an image at all";
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " -p hi -n 1 --image " + Q(garbage.string())), "garbage.jpg");

  const std::string jpeg = ReadFile(kImageA);
  ASSERT_GT(jpeg.size(), 2000u);
  const fs::path truncated = dir_ / "truncated.jpg";
  std::ofstream(truncated, std::ios::binary) << jpeg.substr(0, jpeg.size() / 3);
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " -p hi -n 1 --image " + Q(truncated.string())), "truncated.jpg");

  const fs::path missing = dir_ / "missing.png";
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " -p hi -n 1 --image " + Q(missing.string())), "missing.png");
}

TEST_F(Cli, RunBadPromptIds) {
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " --prompt-ids 1,x,3 -n 1"), "--prompt-ids");
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " --prompt-ids 1,x,3 -n 1"), "\"x\"");
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " --prompt-ids 0,-4 -n 1"), "--prompt-ids");
  // An id outside the vocabulary, and an image id without an --image.
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " --prompt-ids 0,99999 -n 1"), "99999");
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " --prompt-ids 0,500,7 -n 1"), "image");
  // Neither or both of -p and --prompt-ids.
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " -n 1"), "--prompt-ids");
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " -p hi --prompt-ids 0,7 -n 1"), "--prompt-ids");
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " -i --prompt-ids 0,7 -n 1"), "--prompt-ids");
}

TEST_F(Cli, UnknownFlagAndBadValuesAreCli11Errors) {
  for (const std::string& args : {std::string("run -m ") + Q(kVl2) + " -p hi --bogus", std::string("--bogus"),
                                  std::string("run -m ") + Q(kVl2) + " -p hi --top-p 2",
                                  std::string("run -m ") + Q(kVl2) + " -p hi -n many", std::string("nosuchcmd"),
                                  std::string("run -m ") + Q(kVl2) + " -p hi --precision f16"}) {
    const Result r = Dsvl(args);
    EXPECT_EQ(r.signal, 0) << args;
    EXPECT_NE(r.status, 0) << args;
    EXPECT_NE(r.status, 2) << args << " (internal error)";
    EXPECT_FALSE(r.err.empty() && r.out.empty()) << args << ": no message";
  }
  const Result r = Dsvl("run -m " + Q(kVl2) + " -p hi --bogus");
  EXPECT_NE((r.err + r.out).find("--bogus"), std::string::npos) << r.err;
}

// ---- run: --draw-boxes and -i -------------------------------------------------------------------------

TEST_F(Cli, DrawBoxesWritesAPng) {
  // The tiny random model answers noise, so there are no boxes: the image is written as it is
  // (drawing itself is covered by draw_boxes_test). A small image keeps the vision tower cheap.
  const fs::path png = dir_ / "boxes.png";
  const Result r = Dsvl("run -m " + Q(kVl2) + " -p " + Q("<image>\n<|ref|>the thing<|/ref|>.") + " --image " +
                        Q(Data("fixtures/images/D_17x23.png")) + " -n 2 -t 2 --draw-boxes " + Q(png.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(fs::exists(png));
  const std::string bytes = ReadFile(png);
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const RgbImage img = DecodeImageFile(png.string());
  EXPECT_EQ(img.width, 17);
  EXPECT_EQ(img.height, 23);
  EXPECT_EQ(img.pixels, DecodeImageFile(Data("fixtures/images/D_17x23.png")).pixels);
  // --draw-boxes without an image is an error.
  ExpectCleanFailure(Dsvl("run -m " + Q(kVl2) + " -p hi -n 1 --draw-boxes " + Q((dir_ / "x.png").string())),
                     "--draw-boxes");
}

TEST_F(Cli, InteractiveAnswersEveryTurnWithHistory) {
  const Result r = Dsvl("run -m " + Q(kVl2) + " -i -n 3 -t 2", "Hello there\n\nWhat next?\n");
  ASSERT_EQ(r.status, 0) << r.err;
  // The same two turns through the library: each answer streams followed by a newline.
  ModelOptions mo;
  mo.dir = kVl2;
  mo.threads = 2;
  std::shared_ptr<Model> model;
  ASSERT_TRUE(Model::Load(mo, &model).ok());
  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::Create(model, &session).ok());
  std::string expected, first;
  for (const char* turn : {"Hello there", "What next?"}) {
    GenerateRequest req;
    req.max_new_tokens = 3;
    req.messages.push_back(Message{"user", turn, {}});
    GenerateResult res;
    const Status s = session->Generate(req, &res);
    ASSERT_TRUE(s.ok()) << s.ToString();
    expected += res.text + "\n";
    if (first.empty()) first = expected;
  }
  EXPECT_EQ(r.out, expected);
  EXPECT_EQ(session->history().size(), 4u);
  // The check can tell a chat that forgot the first turn: without history the second answer differs.
  session->Reset();
  {
    GenerateRequest req;
    req.max_new_tokens = 3;
    req.messages.push_back(Message{"user", "What next?", {}});
    GenerateResult res;
    ASSERT_TRUE(session->Generate(req, &res).ok());
    ASSERT_NE(first + res.text + "\n", expected) << "pick other turns: history does not change the answer";
  }
  // /quit ends the chat before the second turn.
  const Result q = Dsvl("run -m " + Q(kVl2) + " -i -n 3 -t 2", "Hello there\n/quit\nWhat next?\n");
  ASSERT_EQ(q.status, 0) << q.err;
  EXPECT_EQ(q.out, first);
}

TEST_F(Cli, InteractiveBadImageKeepsChatting) {
  const Result r = Dsvl("run -m " + Q(kVl2) + " -i -n 2 -t 2",
                        "/image " + (dir_ / "nope.jpg").string() + "\nHello there\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("nope.jpg"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dsvl
