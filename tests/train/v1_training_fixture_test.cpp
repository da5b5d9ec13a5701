// DeepSeek-VL (v1_siglip tiny checkpoint) training against the official PyTorch run
// (tests/data/fixtures/training, README there): the loss, dL/d(adaptor output), the gradient of every
// adaptor and LLM tensor, and the parameters after AdamW steps.
//
// Tolerances come from the fixtures' own noise floor (summary.json: the official run with 1 vs 2
// threads, i.e. only the f32 summation order changed): losses differ by <= 1.9e-6, gradients by
// <= 2.2e-6 of each tensor's max |g|. dsvl sums in yet another order (its GEMM blocking, its attention
// loop), so it is held to a small multiple of that floor: gradients within kGradRel of the tensor's
// max |g|, losses within kLossAbs. Parameters after AdamW steps amplify rounding wherever |g| is near
// eps (the update lr·m/(sqrt(v)+eps) is then decided by noise), so, as the fixture README recommends,
// elements whose step-0 gradient is >= 1e-6 are held to kStepAbs and the others only to k·lr plus the
// weight decay.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "io/image_decode.h"
#include "io/safetensors.h"
#include "model/model_config.h"
#include "npy.h"
#include "train/adamw.h"
#include "train/llama_trainer.h"
#include "train/mlp_projector_trainer.h"
#include "vision/preprocess_vl1.h"
#include "vision/vit.h"

namespace dsvl::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kGradRel = 1e-5;   // x max |g| of the tensor (measured 2.5e-6; the 1-vs-2-thread floor is 2.2e-6)
constexpr double kLossAbs = 1e-5;   // measured 2.2e-6; the floor is 1.9e-6 on losses of ~15-20
constexpr double kStepAbs = 2e-6;   // params after k steps, elements with |g0| >= 1e-6 (measured 3.1e-7, floor 7.7e-7)
constexpr int64_t kSupervised = 28;

fs::path TrainingDir() { return fs::path(test::FixtureDir()) / "training" / "v1_siglip"; }

json ReadJson(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

struct Example {
  std::vector<int64_t> ids, labels;
  std::vector<bool> image_row;
  std::vector<float> features;  // SigLIP output [576, width] (vision is frozen here)
};

// The checkpoint, the three examples and their frozen vision features, loaded once.
struct Fixture {
  std::unique_ptr<WeightStore> weights;
  ModelConfig config;
  std::vector<Example> examples;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    const fs::path ckpt = fs::path(test::FixtureDir()) / "v1_siglip" / "ckpt";
    f->weights = WeightStore::Open(ckpt.string());
    f->config = LoadModelConfig(ckpt.string(), *f->weights);
    VisionTransformer vit(*f->config.siglip, *f->weights);
    ThreadPool pool(0);
    const json ex = ReadJson(TrainingDir() / "examples.json");
    for (size_t i = 0; i < ex["examples"].size(); ++i) {
      const fs::path dir = TrainingDir() / "examples" / ("ex" + std::to_string(i));
      Example e;
      e.ids = test::LoadNpy((dir / "input_ids.npy").string()).i64();
      e.labels = test::LoadNpy((dir / "labels.npy").string()).i64();
      for (int64_t m : test::LoadNpy((dir / "images_seq_mask.npy").string()).i64()) e.image_row.push_back(m != 0);
      const std::string png = ex["examples"][i]["pixels"]["png"];
      const RgbImage canvas = DecodeImageFile((TrainingDir() / png).string());
      const Tensor pixels = Vl1CanvasToTensor(canvas, f->config.vl1_processor);
      e.features.resize(static_cast<size_t>(vit.tokens() * vit.width()));
      vit.Forward(pool, pixels.f32(), 1, e.features.data());
      f->examples.push_back(std::move(e));
    }
    return f;
  }();
  return *fixture;
}

// One pass over the batch as the official script runs it: per example, adaptor forward, image rows
// replaced, LLM forward with the summed CE; L = Σ CE / N. With backward, gradients of L accumulate.
struct BatchResult {
  double loss = 0;
  std::vector<double> ce_sums;
  std::vector<std::vector<float>> projector_out, d_projector_out;
};

BatchResult RunBatch(ThreadPool& pool, MlpProjectorTrainer& adaptor, LlamaTrainer& llm, bool backward) {
  const Fixture& f = GetFixture();
  const int64_t d = llm.hidden();
  BatchResult r;
  for (const Example& e : f.examples) {
    const int64_t T = static_cast<int64_t>(e.ids.size());
    const int64_t n_img = static_cast<int64_t>(e.features.size()) / adaptor.input_dim();
    std::vector<float> proj(static_cast<size_t>(n_img * d)), embeds(static_cast<size_t>(T * d)),
        d_embeds(embeds.size()), d_proj(proj.size());
    adaptor.Forward(pool, e.features.data(), n_img, proj.data());
    llm.Embed(e.ids.data(), T, embeds.data());
    std::vector<int64_t> table_ids = e.ids;
    int64_t img = 0;
    for (int64_t t = 0; t < T; ++t)
      if (e.image_row[static_cast<size_t>(t)]) {
        std::copy_n(proj.data() + img++ * d, d, embeds.data() + t * d);
        table_ids[static_cast<size_t>(t)] = -1;  // overwritten: its table row gets no gradient
      }
    EXPECT_EQ(img, n_img);
    Targets targets;
    for (int64_t t = 1; t < T; ++t)
      if (e.labels[static_cast<size_t>(t)] != -100) {
        targets.rows.push_back(t - 1);
        targets.labels.push_back(e.labels[static_cast<size_t>(t)]);
      }
    const double ce = llm.Run(pool, embeds.data(), table_ids.data(), T, targets, backward,
                              1.0f / kSupervised, d_embeds.data());
    r.ce_sums.push_back(ce);
    r.loss += ce;
    if (backward) {
      img = 0;
      for (int64_t t = 0; t < T; ++t)
        if (e.image_row[static_cast<size_t>(t)]) std::copy_n(d_embeds.data() + t * d, d, d_proj.data() + img++ * d);
      adaptor.Backward(pool, d_proj.data(), nullptr);
    }
    r.projector_out.push_back(std::move(proj));
    r.d_projector_out.push_back(std::move(d_proj));
  }
  r.loss /= kSupervised;
  return r;
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// max |a - b| / max |b| (b: official), reported and checked against `rel`.
void ExpectClose(const std::vector<float>& ours, const std::vector<float>& official, double rel,
                 const std::string& what, double* worst = nullptr) {
  ASSERT_EQ(ours.size(), official.size()) << what;
  double diff = 0;
  for (size_t i = 0; i < ours.size(); ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(ours[i] - official[i])));
  const double scale = std::max(MaxAbs(official), 1e-30);
  if (worst) *worst = std::max(*worst, diff / scale);
  EXPECT_LE(diff, rel * scale) << what << ": max diff " << diff << " of max |official| " << scale;
}

std::vector<float> LoadF32(const fs::path& p) { return test::LoadNpy(p.string()).f32(); }

// Parameters after `steps` AdamW steps against the official ones, with the README's split by |g0|.
void ExpectParamsAfterSteps(const TrainParam& p, const fs::path& dir, const fs::path& grads_dir,
                            int steps, double lr, double wd) {
  const std::vector<float> official = LoadF32(dir / (p.name + ".npy"));
  const std::vector<float> g0 = LoadF32(grads_dir / (p.name + ".npy"));
  ASSERT_EQ(official.size(), p.value.size()) << p.name;
  double worst_sure = 0, worst_noise = 0;
  for (size_t i = 0; i < official.size(); ++i) {
    const double diff = std::fabs(p.value[i] - official[i]);
    if (std::fabs(g0[i]) >= 1e-6) worst_sure = std::max(worst_sure, diff);
    else worst_noise = std::max(worst_noise, diff - steps * lr * (1.0 + wd * std::fabs(official[i])));
  }
  if (std::getenv("DSVL_TRAIN_VERBOSE"))
    std::printf("%s step%d: %.2e / near-zero-gradient excess %.2e\n", p.name.c_str(), steps, worst_sure, worst_noise);
  EXPECT_LE(worst_sure, kStepAbs) << p.name << " after " << steps << " steps";
  EXPECT_LE(worst_noise, 0.0) << p.name << " after " << steps << " steps (near-zero gradients)";
}

TEST(V1TrainingFixture, AlignStageLossGradientsAndThreeAdamWSteps) {
  const Fixture& f = GetFixture();
  const json c = ReadJson(TrainingDir() / "align" / "case.json");
  ParamSet params;
  for (const std::string name : c["trainable"]) params.Add(*f.weights, name);
  ASSERT_EQ(params.params().size(), 4u);
  MlpProjectorTrainer adaptor(f.config.projector, *f.weights, params);
  LlamaTrainer llm(f.config.llm, *f.weights, params);
  ThreadPool pool(2);

  BatchResult r = RunBatch(pool, adaptor, llm, true);
  EXPECT_NEAR(r.loss, c["losses_by_step"][0].get<double>(), kLossAbs);
  for (size_t i = 0; i < r.ce_sums.size(); ++i) {
    const double official = c["per_step_detail"][0]["ce_sums"][i];
    EXPECT_NEAR(r.ce_sums[i], official, kLossAbs * kSupervised) << "example " << i;
    const fs::path ex = TrainingDir() / "examples" / ("ex" + std::to_string(i));
    ExpectClose(r.projector_out[i], LoadF32(ex / "projector_out.npy"), 1e-5, "projector_out ex" + std::to_string(i));
    ExpectClose(r.d_projector_out[i], LoadF32(TrainingDir() / "sft" / "d_projector_out" / ("ex" + std::to_string(i) + ".npy")),
                kGradRel, "d_projector_out ex" + std::to_string(i));
  }
  double worst = 0;
  for (const TrainParam& p : params.params())
    ExpectClose(p.grad, LoadF32(TrainingDir() / "align" / "grads" / (p.name + ".npy")), kGradRel, p.name, &worst);
  std::printf("align: loss %.7f (official %.7f), worst gradient diff %.2e of max |g|\n", r.loss,
              c["losses_by_step"][0].get<double>(), worst);

  const AdamWOptions opt;  // the fixture's: lr 1e-3, betas (0.9, 0.95), eps 1e-8, weight decay 0.1
  for (int step = 1; step <= 3; ++step) {
    AdamWStep(params, opt, step);
    if (step == 1 || step == 3)
      for (const TrainParam& p : params.params())
        ExpectParamsAfterSteps(p, TrainingDir() / "align" / ("step" + std::to_string(step)),
                               TrainingDir() / "align" / "grads", step, opt.lr, opt.weight_decay);
    params.ZeroGrads();
    r = RunBatch(pool, adaptor, llm, step < 3);
    EXPECT_NEAR(r.loss, c["losses_by_step"][step].get<double>(), kLossAbs) << "loss after step " << step;
  }
}

// The SFT stage trains everything; the vision tower's backward is not implemented yet, so here the
// tower is frozen and every LLM and adaptor tensor is checked: their gradients (and one AdamW step,
// which is per tensor) do not depend on whether the tower trains.
TEST(V1TrainingFixture, SftStageLlmAndAdaptorGradientsAndOneStep) {
  const Fixture& f = GetFixture();
  const json c = ReadJson(TrainingDir() / "sft" / "case.json");
  ParamSet params;
  for (const std::string name : c["trainable"])
    if (name.rfind("vision_model.", 0) != 0) params.Add(*f.weights, name);
  ASSERT_EQ(params.params().size(), 4u + 21u);
  MlpProjectorTrainer adaptor(f.config.projector, *f.weights, params);
  LlamaTrainer llm(f.config.llm, *f.weights, params);
  ThreadPool pool(2);

  const BatchResult r = RunBatch(pool, adaptor, llm, true);
  EXPECT_NEAR(r.loss, c["losses_by_step"][0].get<double>(), kLossAbs);
  double worst = 0;
  for (const TrainParam& p : params.params())
    ExpectClose(p.grad, LoadF32(TrainingDir() / "sft" / "grads" / (p.name + ".npy")), kGradRel, p.name, &worst);
  std::printf("sft: worst gradient diff %.2e of max |g| over %zu tensors\n", worst, params.params().size());
  const AdamWOptions opt;
  AdamWStep(params, opt, 1);
  for (const TrainParam& p : params.params())
    ExpectParamsAfterSteps(p, TrainingDir() / "sft" / "step1", TrainingDir() / "sft" / "grads", 1, opt.lr,
                           opt.weight_decay);
}

}  // namespace
}  // namespace dsvl::train
