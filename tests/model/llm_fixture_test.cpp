// The language models against the official fixtures: every case of every family, fp32 and bf16.
// For each case: one prefill over inputs_embeds (final-normed hidden states and logits vs the
// official prompt_last_hidden / prompt_logits[_sel]), the same prefill in chunks of 7, then 15
// decode steps fed with the official greedy ids (teacher forcing keeps every step comparable):
// step logits vs greedy_step_logits, and our argmax vs greedy_ids at every step whose official
// top1-top2 margin exceeds 10x our measured logit error at that step.
//
// Errors: max |ours - official| relative to the official array's range (max - min). Measured with
// the reference kernels (max over each family's cases; hidden / prompt logits / step logits):
//   fp32  v1_hybrid 5.3e-7 / 3.8e-7 / 4.6e-7    v1_siglip 4.4e-7 / 4.1e-7 / 4.5e-7
//         vl2_tiny  5.5e-7 / 5.4e-7 / 5.3e-7    vl2_small 5.4e-7 / 4.5e-7 / 7.5e-7
//         vl2_base  7.1e-7 / 4.5e-7 / 6.8e-7
//   bf16  v1_hybrid 5.0e-3 / 3.7e-3 / 4.4e-3    v1_siglip 5.0e-3 / 4.2e-3 / 3.9e-3
//         vl2_tiny  3.6e-2 / 3.0e-2 / 3.5e-2    vl2_small 6.3e-2 / 4.7e-3 / 8.1e-3
//         vl2_base  2.0e-1 / 1.3e-1 / 1.1e-1   (median row ~3e-3 to 5e-3 for every bf16 family)
// The bf16 MoE maxima are routing flips: the official run rounds every activation to bf16, so a
// token whose k-th and (k+1)-th expert scores are within bf16 noise can pick a different expert
// there than in our f32 computation, and that row then differs by a few percent (2.8% of the
// rows of vl2_base/bf16/A, fewer elsewhere). The fp32 fixtures, where there is no such noise,
// match to < 1e-6 on every row, which is what shows the routing itself is right.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "llm/language_model.h"
#include "model/model_config.h"
#include "npy.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

struct Tolerance {
  double max_rel;           // bound for every row
  double row_rel;           // bound for all but `outliers` of the rows
  double outlier_fraction;  // rows allowed above row_rel (at least one when > 0)
};
// fp32: the official run is fp32 throughout; only summation order differs.
constexpr Tolerance kFp32{1e-4, 1e-4, 0.0};
// bf16 dense (Llama): our f32 compute vs the official bf16-rounded one; measured max 5e-3.
constexpr Tolerance kBf16Dense{1e-2, 1e-2, 0.0};
// bf16 MoE: as dense for the typical row, plus routing-flip rows (measured <= 2.8% of rows, max
// 0.2 of the range).
constexpr Tolerance kBf16Moe{0.4, 1e-2, 0.06};

struct Case {
  std::string family, dtype, name;
  fs::path ckpt, dir;
};

std::vector<Case> FindCases() {
  std::vector<Case> cases;
  const fs::path root = fs::path(test::FixtureDir());
  for (const char* family : {"v1_hybrid", "v1_siglip", "vl2_tiny", "vl2_small", "vl2_base"}) {
    for (const char* dtype : {"fp32", "bf16"}) {
      const fs::path dir = root / family / dtype;
      if (!fs::is_directory(dir)) continue;
      std::vector<fs::path> dirs;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory() && fs::exists(e.path() / "inputs_embeds.npy")) dirs.push_back(e.path());
      std::sort(dirs.begin(), dirs.end());
      for (const fs::path& d : dirs)
        cases.push_back({family, dtype, d.filename().string(),
                         root / family / (std::string(dtype) == "fp32" ? "ckpt" : "ckpt-bf16"), d});
    }
  }
  return cases;
}

struct LoadedModel {
  std::unique_ptr<WeightStore> weights;
  ModelConfig config;
  std::unique_ptr<LanguageModel> lm;
};

LoadedModel& Model(const fs::path& ckpt) {
  static std::map<std::string, LoadedModel> models;
  auto it = models.find(ckpt.string());
  if (it != models.end()) return it->second;
  LoadedModel m;
  m.weights = WeightStore::Open(ckpt.string());
  m.config = LoadModelConfig(ckpt.string(), *m.weights);
  m.lm = CreateLanguageModel(m.config.llm, *m.weights);
  return models.emplace(ckpt.string(), std::move(m)).first->second;
}

ThreadPool& Pool() {
  static ThreadPool pool(2);
  return pool;
}

// Max |got - want| per row, and want's range over all rows.
struct Err {
  std::vector<double> row_abs;
  double range = 0;
  double abs() const { return row_abs.empty() ? 0 : *std::max_element(row_abs.begin(), row_abs.end()); }
  double rel() const { return abs() / range; }
  double RowRel(size_t r) const { return row_abs[r] / range; }
  double MedianRel() const {
    std::vector<double> v = row_abs;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2] / range;
  }
  size_t RowsAbove(double rel_bound) const {
    size_t n = 0;
    for (size_t r = 0; r < row_abs.size(); ++r) n += RowRel(r) > rel_bound;
    return n;
  }
  void Add(const Err& o) {
    row_abs.insert(row_abs.end(), o.row_abs.begin(), o.row_abs.end());
    range = std::max(range, o.range);
  }
};

Err Compare(const float* got, const float* want, int64_t rows, int64_t cols) {
  Err e;
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t r = 0; r < rows; ++r) {
    double row = 0;
    for (int64_t i = r * cols; i < (r + 1) * cols; ++i) {
      row = std::max(row, static_cast<double>(std::fabs(got[i] - want[i])));
      lo = std::min(lo, want[i]);
      hi = std::max(hi, want[i]);
    }
    e.row_abs.push_back(row);
  }
  e.range = static_cast<double>(hi) - lo;
  return e;
}

void ExpectWithin(const Err& e, const Tolerance& tol, const std::string& what) {
  EXPECT_LE(e.rel(), tol.max_rel) << what << ": max abs " << e.abs() << ", range " << e.range;
  const size_t allowed = tol.outlier_fraction > 0
                             ? std::max<size_t>(1, static_cast<size_t>(tol.outlier_fraction * e.row_abs.size()))
                             : 0;
  EXPECT_LE(e.RowsAbove(tol.row_rel), allowed)
      << what << ": rows above " << tol.row_rel << " of the range, of " << e.row_abs.size();
}

int64_t ArgMax(const float* v, int64_t n) { return std::max_element(v, v + n) - v; }

struct PrefillResult {
  std::vector<float> hidden, logits;  // [T, H], [T, V]
};

PrefillResult Prefill(LanguageModel& lm, KvCache& cache, const std::vector<float>& embeds, int64_t T, int64_t chunk) {
  const LlmConfig& c = lm.config();
  PrefillResult r;
  r.hidden.resize(static_cast<size_t>(T * c.hidden_size));
  r.logits.resize(static_cast<size_t>(T * c.vocab_size));
  ForwardRequest req;
  req.embeds = embeds.data();
  req.n = T;
  req.hidden_out = r.hidden.data();
  req.logits_out = r.logits.data();
  req.all_logits = true;
  lm.set_prefill_chunk(chunk);
  lm.Forward(Pool(), cache, req);
  lm.set_prefill_chunk(512);
  return r;
}

// The official prompt logits: all rows (prompt_logits [T, V]) or selected ones. `rows` gets the
// positions compared.
std::vector<float> OfficialLogits(const fs::path& dir, int64_t T, std::vector<int64_t>& rows) {
  rows.clear();
  if (fs::exists(dir / "prompt_logits.npy")) {
    for (int64_t t = 0; t < T; ++t) rows.push_back(t);
    return test::LoadNpy((dir / "prompt_logits.npy").string()).f32();
  }
  rows = test::LoadNpy((dir / "prompt_logits_sel_pos.npy").string()).i64();
  return test::LoadNpy((dir / "prompt_logits_sel.npy").string()).f32();
}

Err CompareRows(const std::vector<float>& ours, const std::vector<float>& official, const std::vector<int64_t>& rows,
                int64_t V) {
  std::vector<float> picked;
  for (int64_t p : rows) picked.insert(picked.end(), ours.begin() + p * V, ours.begin() + (p + 1) * V);
  EXPECT_EQ(picked.size(), official.size());
  return Compare(picked.data(), official.data(), static_cast<int64_t>(rows.size()), V);
}

class LlmFixtureTest : public ::testing::TestWithParam<Case> {};

TEST_P(LlmFixtureTest, MatchesOfficial) {
  const Case& k = GetParam();
  LoadedModel& m = Model(k.ckpt);
  LanguageModel& lm = *m.lm;
  const int64_t H = lm.config().hidden_size, V = lm.config().vocab_size;
  const Tolerance tol = k.dtype == "fp32" ? kFp32 : lm.config().moe.n_routed_experts > 0 ? kBf16Moe : kBf16Dense;

  const test::NpyArray embeds_npy = test::LoadNpy((k.dir / "inputs_embeds.npy").string());
  ASSERT_EQ(embeds_npy.shape.size(), 2u);
  ASSERT_EQ(embeds_npy.shape[1], H);
  const int64_t T = embeds_npy.shape[0];
  const std::vector<float> embeds = embeds_npy.f32();
  const std::vector<float> want_hidden = test::LoadNpy((k.dir / "prompt_last_hidden.npy").string()).f32();
  ASSERT_EQ(static_cast<int64_t>(want_hidden.size()), T * H);
  std::vector<int64_t> logit_rows;
  const std::vector<float> want_logits = OfficialLogits(k.dir, T, logit_rows);
  ASSERT_FALSE(logit_rows.empty());
  ASSERT_EQ(logit_rows.back(), T - 1) << "the last prompt position's logits are compared";

  // Single prefill.
  std::unique_ptr<KvCache> cache = lm.NewCache(T + 32);
  const PrefillResult full = Prefill(lm, *cache, embeds, T, 4096);
  ASSERT_EQ(cache->size(), T);
  const Err hidden_err = Compare(full.hidden.data(), want_hidden.data(), T, H);
  const Err logits_err = CompareRows(full.logits, want_logits, logit_rows, V);
  ExpectWithin(hidden_err, tol, "final hidden");
  ExpectWithin(logits_err, tol, "prompt logits");

  // Chunked prefill (chunks of 7) computes the same thing.
  {
    std::unique_ptr<KvCache> chunked_cache = lm.NewCache(T);
    const PrefillResult chunked = Prefill(lm, *chunked_cache, embeds, T, 7);
    EXPECT_EQ(chunked_cache->size(), T);
    ExpectWithin(CompareRows(chunked.logits, want_logits, logit_rows, V), tol, "chunked prompt logits");
    // Chunked vs single to f32 summation noise, with f32 caches: a bf16 cache (the default for a
    // bf16 checkpoint) rounds K/V rows whose f32 values differ in the last bits between the two
    // orders, and one flipped bf16 rounding is a 2^-8 relative step, far above f32 noise.
    const DType kv_dtype = lm.kv_dtype();
    lm.set_kv_dtype(DType::kF32);
    std::unique_ptr<KvCache> single32 = lm.NewCache(T);
    std::unique_ptr<KvCache> chunked32 = lm.NewCache(T);
    const PrefillResult a = Prefill(lm, *single32, embeds, T, 4096);
    const PrefillResult b = Prefill(lm, *chunked32, embeds, T, 7);
    lm.set_kv_dtype(kv_dtype);
    const Err vs_single = Compare(b.logits.data(), a.logits.data(), T, V);
    EXPECT_LE(vs_single.rel(), 1e-5) << "chunked vs single prefill (f32 cache), abs " << vs_single.abs();
  }

  // Decode, fed with the official ids.
  const std::vector<int64_t> ids = test::LoadNpy((k.dir / "greedy_ids.npy").string()).i64();
  const test::NpyArray step_npy = test::LoadNpy((k.dir / "greedy_step_logits.npy").string());
  const std::vector<float> want_steps = step_npy.f32();
  const int64_t steps = step_npy.shape[0];
  ASSERT_EQ(static_cast<int64_t>(ids.size()), steps + 1);
  nlohmann::json case_json;
  {
    std::ifstream in(k.dir / "case.json");
    case_json = nlohmann::json::parse(in);
  }
  const std::vector<double> margins = case_json.at("greedy").at("margins").get<std::vector<double>>();
  ASSERT_EQ(margins.size(), ids.size());

  std::vector<float> step_logits(static_cast<size_t>(steps * V));
  std::vector<float> embed(static_cast<size_t>(H));
  Err step_err;
  for (int64_t s = 0; s < steps; ++s) {
    lm.Embed(&ids[static_cast<size_t>(s)], 1, embed.data());
    ForwardRequest req;
    req.embeds = embed.data();
    req.n = 1;
    req.logits_out = step_logits.data() + s * V;
    lm.Forward(Pool(), *cache, req);
    step_err.Add(Compare(req.logits_out, want_steps.data() + s * V, 1, V));
  }
  EXPECT_EQ(cache->size(), T + steps);
  ExpectWithin(step_err, tol, "decode step logits");

  // greedy_ids[0] comes from the last prompt row, greedy_ids[s] from step s-1's logits. Compared
  // only where the official choice is decisive at our precision on that row.
  int compared = 0;
  for (size_t s = 0; s < ids.size(); ++s) {
    const float* row = s == 0 ? full.logits.data() + (T - 1) * V : step_logits.data() + (s - 1) * V;
    const double err = s == 0 ? logits_err.row_abs.back() : step_err.row_abs[s - 1];
    if (margins[s] <= 10 * err) continue;
    EXPECT_EQ(ArgMax(row, V), ids[s]) << "greedy step " << s << " (margin " << margins[s] << ", error " << err << ")";
    ++compared;
  }
  std::cout << "[ llm ] " << k.family << "/" << k.dtype << "/" << k.name << " T=" << T << " max rel (abs):"
            << " hidden " << hidden_err.rel() << " (" << hidden_err.abs() << ")"
            << ", logits " << logits_err.rel() << " (" << logits_err.abs() << ")"
            << ", steps " << step_err.rel() << " (" << step_err.abs() << ")"
            << "; median row rel hidden " << hidden_err.MedianRel() << ", logits " << logits_err.MedianRel()
            << "; rows > " << tol.row_rel << ": hidden " << hidden_err.RowsAbove(tol.row_rel) << "/" << T
            << ", logits " << logits_err.RowsAbove(tol.row_rel) << "/" << logit_rows.size()
            << ", steps " << step_err.RowsAbove(tol.row_rel) << "/" << steps
            << "; greedy ids compared " << compared << "/" << ids.size() << "\n";
  if (compared == 0) {
    std::cout << "[ llm ] NOTE: " << k.family << "/" << k.dtype << "/" << k.name
              << " compared no greedy id: every official margin is <= 10x our logit error on its row\n";
  }
  RecordProperty("greedy_ids_compared", compared);
  if (k.dtype == "fp32") {
    EXPECT_EQ(compared, static_cast<int>(ids.size())) << "fp32 margins are all decisive";
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.family + "_" + info.param.dtype + "_" + info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlmFixtureTest, ::testing::ValuesIn(FindCases()), CaseName);

}  // namespace
}  // namespace dsvl
