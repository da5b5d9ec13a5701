// Quantised weights against the official fp32 logits, on every fp32 case of every fixture family
// (issue 13 item 5). The fp32 checkpoint is quantised in memory (QuantizeInMemory, as --quant does)
// and run like llm_fixture_test: a prefill over the official inputs_embeds, then 15 decode steps
// teacher-forced on the official greedy ids. Each of the 16 next-token distributions per case
// (the last prompt row, then every step) is compared with the official one: top-1 agreement with
// the official greedy id and KL(official || ours). The numbers are recorded in bench/RESULTS.md
// ("Quantisation accuracy (tiny fixtures)"); the thresholds below come from those measurements.
//
// The fixture LLMs are tiny (hidden 64 or 96): their matrices' rows are 32, 48, 64, 96, 160 or 256
// wide, so Q8_0 and Q4_0 cover every matrix except vl2_base's q_b_proj (rows of 48: kept in f32);
// Q4_K's 256-wide super-blocks fit only v1_siglip's down_proj, and elsewhere the policy falls back
// to Q4_0. The q4_k rows below therefore mostly measure Q4_0 (the test prints the split);
// Q4_K's own numerics are checked against its reference in tests/kernels/quant_formats_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "llm/language_model.h"
#include "kernels/ops.h"
#include "model/decode_layout.h"
#include "model/model_config.h"
#include "model/quantize.h"
#include "npy.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

ThreadPool& Pool() {
  static ThreadPool pool(2);
  return pool;
}

struct QuantModel {
  std::unique_ptr<WeightStore> weights;
  ModelConfig config;
  std::unique_ptr<LanguageModel> lm;
  QuantizeSummary summary;
  RepackSummary repacked;
};

// interleaved: then repacked for this CPU's decode kernels, as the engine does at load.
QuantModel LoadQuantized(const fs::path& ckpt, const std::string& type, bool interleaved) {
  QuantModel m;
  m.weights = WeightStore::Open(ckpt.string());
  m.config = LoadModelConfig(ckpt.string(), *m.weights);
  m.summary = QuantizeInMemory(*m.weights, ExpectedTensors(m.config), MakeQuantOptions(type), Pool());
  if (interleaved) m.repacked = RepackForDecode(*m.weights, ExpectedTensors(m.config), Pool());
  m.lm = CreateLanguageModel(m.config.llm, *m.weights);
  return m;
}

// log-softmax of a row, in double.
std::vector<double> LogSoftmax(const float* x, int64_t n) {
  const double mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  const double lse = mx + std::log(sum);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = x[i] - lse;
  return out;
}

double Kl(const float* official, const float* ours, int64_t n) {
  const std::vector<double> p = LogSoftmax(official, n), q = LogSoftmax(ours, n);
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) kl += std::exp(p[i]) * (p[i] - q[i]);
  return kl;
}

// One next-token distribution compared.
struct Step {
  bool top1_agrees = false;
  double kl = 0;
  double margin = 0;     // official top1 - top2
  double range = 0;      // official max - min
  double max_abs = 0;    // max |ours - official|
};

// Every distribution of one fp32 case: the last prompt row, then the 15 teacher-forced steps.
std::vector<Step> RunCase(LanguageModel& lm, const fs::path& dir) {
  const int64_t H = lm.config().hidden_size, V = lm.config().vocab_size;
  const test::NpyArray embeds_npy = test::LoadNpy((dir / "inputs_embeds.npy").string());
  const int64_t T = embeds_npy.shape[0];
  const std::vector<float> embeds = embeds_npy.f32();
  std::vector<float> official_last;
  if (fs::exists(dir / "prompt_logits.npy")) {
    const std::vector<float> all = test::LoadNpy((dir / "prompt_logits.npy").string()).f32();
    official_last.assign(all.end() - V, all.end());
  } else {
    const std::vector<float> sel = test::LoadNpy((dir / "prompt_logits_sel.npy").string()).f32();
    official_last.assign(sel.end() - V, sel.end());  // the last selected row is position T - 1
  }
  const std::vector<int64_t> ids = test::LoadNpy((dir / "greedy_ids.npy").string()).i64();
  const std::vector<float> official_steps = test::LoadNpy((dir / "greedy_step_logits.npy").string()).f32();
  const int64_t steps = static_cast<int64_t>(ids.size()) - 1;

  std::unique_ptr<KvCache> cache = lm.NewCache(T + steps + 1);
  std::vector<float> logits(static_cast<size_t>((steps + 1) * V));
  ForwardRequest req;
  req.embeds = embeds.data();
  req.n = T;
  req.logits_out = logits.data();  // the last row only
  lm.Forward(Pool(), *cache, req);
  std::vector<float> embed(static_cast<size_t>(H));
  for (int64_t s = 0; s < steps; ++s) {
    lm.Embed(&ids[static_cast<size_t>(s)], 1, embed.data());
    ForwardRequest step;
    step.embeds = embed.data();
    step.n = 1;
    step.logits_out = logits.data() + (s + 1) * V;
    lm.Forward(Pool(), *cache, step);
  }

  std::vector<Step> out;
  for (int64_t s = 0; s <= steps; ++s) {
    const float* want = s == 0 ? official_last.data() : official_steps.data() + (s - 1) * V;
    const float* got = logits.data() + s * V;
    Step st;
    st.top1_agrees = std::max_element(got, got + V) - got == ids[static_cast<size_t>(s)];
    st.kl = Kl(want, got, V);
    std::vector<float> sorted(want, want + V);
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    st.margin = static_cast<double>(sorted[0]) - sorted[1];
    st.range = static_cast<double>(*std::max_element(want, want + V)) - *std::min_element(want, want + V);
    for (int64_t i = 0; i < V; ++i) st.max_abs = std::max(st.max_abs, static_cast<double>(std::fabs(got[i] - want[i])));
    out.push_back(st);
  }
  return out;
}

std::vector<fs::path> Fp32Cases(const std::string& family) {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(fs::path(test::FixtureDir()) / family / "fp32"))
    if (e.is_directory() && fs::exists(e.path() / "inputs_embeds.npy")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// A step is decisive when the official top1-top2 margin exceeds this fraction of the official
// row's logit range (max - min). Measured q8_0 error, max |ours - official| / range per row, over
// all families: median 0.0055-0.0083, 90th percentile 0.0074-0.0114; so 0.05 is over 4x the p90
// error. (Single rows reach 0.05-0.14 in the MoE families: routing flips, a token whose k-th and
// (k+1)-th expert scores are closer than the quantisation noise, as in the bf16 fixtures.) Every
// decisive step agreed in every family; q8_0 must keep it so.
constexpr double kDecisiveMarginOfRange = 0.05;

struct Threshold {
  double min_top1;     // fraction of all steps whose top-1 is the official greedy id
  double max_mean_kl;  // mean KL(official || ours), nats
};

struct Param {
  std::string family, type;
  Threshold threshold;
  bool interleaved = false;  // weights repacked for the decode kernels (kernels::DecodeLayout)
};

class QuantAccuracyTest : public ::testing::TestWithParam<Param> {};

TEST_P(QuantAccuracyTest, AgainstOfficialFp32) {
  const Param& p = GetParam();
  if (p.interleaved && kernels::DecodeLayout(DType::kQ8_0, 8) == DType::kQ8_0)
    GTEST_SKIP() << "this CPU's kernels keep the plain layout by default (the plain cases cover it)";
  QuantModel m = LoadQuantized(fs::path(test::FixtureDir()) / p.family / "ckpt", p.type, p.interleaved);
  ASSERT_GT(m.summary.params_quantized, 0);
  if (p.interleaved) ASSERT_GT(m.repacked.tensors, 0);
  std::vector<Step> all;
  for (const fs::path& dir : Fp32Cases(p.family)) {
    const std::vector<Step> steps = RunCase(*m.lm, dir);
    all.insert(all.end(), steps.begin(), steps.end());
  }
  ASSERT_FALSE(all.empty());
  int agree = 0, decisive = 0, decisive_agree = 0;
  double kl_sum = 0, kl_max = 0, err_rel_max = 0;
  for (const Step& s : all) {
    agree += s.top1_agrees;
    kl_sum += s.kl;
    kl_max = std::max(kl_max, s.kl);
    err_rel_max = std::max(err_rel_max, s.max_abs / s.range);
    if (s.margin > kDecisiveMarginOfRange * s.range) {
      ++decisive;
      decisive_agree += s.top1_agrees;
    }
  }
  std::vector<double> err_rel;
  int decisive_wide = 0;
  for (const Step& s : all) {
    err_rel.push_back(s.max_abs / s.range);
    decisive_wide += s.margin > 0.15 * s.range;
  }
  std::sort(err_rel.begin(), err_rel.end());
  const double err_rel_median = err_rel[err_rel.size() / 2], err_rel_p90 = err_rel[err_rel.size() * 9 / 10];
  // The language model's share of parameters now in a block type (the towers are not quantised).
  int64_t llm_params = 0, llm_quantized = 0;
  for (const ExpectedTensor& t : ExpectedTensors(m.config)) {
    if (t.group != TensorGroup::kLanguage) continue;
    llm_params += t.shape.numel();
    const DType dt = m.weights->Get(t.name).dtype;
    if (IsQuantized(dt) || IsInterleavedQuant(dt)) llm_quantized += t.shape.numel();
  }
  const double top1 = static_cast<double>(agree) / static_cast<double>(all.size());
  const double mean_kl = kl_sum / static_cast<double>(all.size());
  std::string types;
  for (const auto& [t, n] : m.summary.tensors_by_type) types += " " + t + ":" + std::to_string(n);
  std::printf("[ quant ] %s %s%s: top-1 %d/%zu = %.4f, decisive %d/%d (margin > 0.15 range: %d), mean KL %.3e,"
              " max KL %.3e, err/range median %.4f p90 %.4f max %.4f; LLM params block-quantised %.1f%%"
              " (all params %.1f%%; tensors%s)\n",
              p.family.c_str(), p.type.c_str(), p.interleaved ? " interleaved" : "", agree, all.size(), top1, decisive_agree, decisive, decisive_wide,
              mean_kl, kl_max, err_rel_median, err_rel_p90, err_rel_max,
              100.0 * static_cast<double>(llm_quantized) / static_cast<double>(llm_params),
              100.0 * m.summary.QuantizedFraction(), types.c_str());
  EXPECT_GE(top1, p.threshold.min_top1);
  EXPECT_LE(mean_kl, p.threshold.max_mean_kl);
  if (p.type == "q8_0") {
    EXPECT_EQ(decisive_agree, decisive) << "q8_0 must reproduce every decisive official greedy id";
    EXPECT_GT(decisive, 0) << "no decisive step: the test would prove nothing";
  }
}

// Thresholds from the measurements with the scalar reference kernels (bench/RESULTS.md), with room
// for the SIMD kernels' on-the-fly activation quantisation: top-1 about 0.08-0.1 (5-6 of 48-64
// steps) below the measured value, mean KL 2-3x the measured one. A broken format or policy (a
// wrong scale, a misread layout) moves KL by orders of magnitude and top-1 to chance.
std::vector<Param> Params() {
  return {
      // measured: top-1 64/64 = 1.000, mean KL 9.1e-4
      {"v1_hybrid", "q8_0", {0.92, 3e-3}},
      // measured: top-1 51/64 = 0.797, mean KL 0.150 (all matrices Q4_0: rows of 64/160)
      {"v1_hybrid", "q4_k", {0.70, 0.30}},
      // measured: top-1 64/64 = 1.000, mean KL 8.0e-4
      {"v1_siglip", "q8_0", {0.92, 3e-3}},
      // measured: top-1 55/64 = 0.859, mean KL 0.152 (down_proj rows of 256 are Q4_K, the rest Q4_0)
      {"v1_siglip", "q4_k", {0.76, 0.30}},
      // measured: top-1 58/64 = 0.906, mean KL 3.0e-3
      {"vl2_tiny", "q8_0", {0.83, 1e-2}},
      // measured: top-1 47/64 = 0.734, mean KL 0.240 (all Q4_0)
      {"vl2_tiny", "q4_k", {0.64, 0.50}},
      // measured: top-1 43/48 = 0.896, mean KL 6.6e-3
      {"vl2_small", "q8_0", {0.81, 2e-2}},
      // measured: top-1 33/48 = 0.688, mean KL 0.285 (all Q4_0)
      {"vl2_small", "q4_k", {0.58, 0.60}},
      // measured: top-1 47/48 = 0.979, mean KL 2.2e-3 with f32 activations (DSVL_ISA=scalar); with
      // the SIMD kernels' int8 activations 47/48 and mean KL 2.1e-2, almost all of it one step (KL
      // 0.84) where the MoE gate picks another expert: one such flip in 48 steps is allowed.
      {"vl2_base", "q8_0", {0.90, 4e-2}},
      // measured: top-1 35/48 = 0.729, mean KL 0.886 (all Q4_0; q_b_proj rows of 48 stay f32)
      {"vl2_base", "q4_k", {0.63, 1.80}},
      // Q4_0 requested directly: the same tensors as q4_k above on these fixtures (measured equal).
      {"v1_hybrid", "q4_0", {0.70, 0.30}},
      {"vl2_tiny", "q4_0", {0.64, 0.50}},
      // The interleaved layouts the engine repacks to on CPUs with kernels for them: same activation
      // quantisation, another f32 summation order, so the same thresholds hold.
      {"v1_hybrid", "q8_0", {0.92, 3e-3}, true},
      {"v1_siglip", "q4_k", {0.76, 0.30}, true},
      {"vl2_tiny", "q8_0", {0.83, 1e-2}, true},
      {"vl2_tiny", "q4_k", {0.64, 0.50}, true},
      {"vl2_base", "q8_0", {0.90, 4e-2}, true},
  };
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return info.param.family + "_" + info.param.type + (info.param.interleaved ? "_interleaved" : "");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QuantAccuracyTest, ::testing::ValuesIn(Params()), ParamName);

}  // namespace
}  // namespace dsvl
