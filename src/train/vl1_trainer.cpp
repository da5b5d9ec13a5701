#include "train/vl1_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "dsvl/error.h"
#include "io/image_decode.h"
#include "io/safetensors.h"
#include "text/tokenizer.h"
#include "train/llama_trainer.h"
#include "train/mlp_projector_trainer.h"
#include "train/sft_data.h"
#include "train/vit_trainer.h"
#include "vision/preprocess_vl1.h"
#include "vision/vit.h"

namespace dsvl::train {
namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

struct Vl1Trainer::Example {
  TrainingSequence seq;
  int64_t images = 0;
  std::vector<float> features;  // frozen tower: its SigLIP outputs, [images * 576, width]
  std::vector<float> pixels;    // training tower: its preprocessed images, [images, 3, 384, 384]
};

Vl1Trainer::Vl1Trainer(const TrainOptions& options) : options_(options) {
  if (options.stage != "align" && options.stage != "pretrain" && options.stage != "sft")
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"--stage", "stage", "align, pretrain or sft", options.stage, ""});
  if (options.steps < 0 || options.batch < 0 || options.warmup_steps < 0 || options.grad_clip < 0 ||
      !(options.adam.lr > 0))
    Throw(ErrorCode::kInvalidArgument, "train: steps, batch, warm-up and clipping must be >= 0 and lr > 0");
  pool_ = std::make_unique<ThreadPool>(options.threads);
  weights_ = WeightStore::Open(options.model_dir);
  config_ = LoadModelConfig(options.model_dir, *weights_);
  if (config_.family != ModelFamily::kDeepSeekVL || config_.sam || !config_.siglip ||
      config_.projector.type != ProjectorType::kMlpGelu)
    Throw(ErrorCode::kUnsupported,
          ErrorContext{options.model_dir, "model", "DeepSeek-VL with the SigLIP tower and mlp_gelu aligner (1.3B layout)",
                       "another family or layout", "training DeepSeek-VL 7B and DeepSeek-VL2 is not implemented yet"});
  tokenizer_ = Tokenizer::Load(options.model_dir);

  // Trainable sets (DeepSeek-VL paper): align = aligner; pretrain = aligner + LLM; sft = + SigLIP.
  const bool train_tower = options.stage == "sft";
  for (const auto& [name, info] : weights_->tensors()) {
    const bool aligner = StartsWith(name, config_.projector.prefix);
    const bool llm = StartsWith(name, config_.llm.prefix);
    const bool tower = StartsWith(name, config_.siglip->prefix) && name.find(".attn_pool.") == std::string::npos;
    if (aligner || (llm && options.stage != "align") || (tower && train_tower)) params_.Add(*weights_, name);
  }
  llm_ = std::make_unique<LlamaTrainer>(config_.llm, *weights_, params_);
  adaptor_ = std::make_unique<MlpProjectorTrainer>(config_.projector, *weights_, params_);
  if (train_tower) vit_ = std::make_unique<VitTrainer>(*config_.siglip, *weights_, params_);

  // Data: formatted once; the frozen tower's outputs computed once per image.
  VisionTransformer vit(*config_.siglip, *weights_);
  const auto conversations = ReadTrainingJsonl(options.data, config_.family, options.images_dir);
  for (const TrainingConversation& c : conversations) {
    Example e;
    const std::vector<int64_t> tokens(c.image_paths.size(), config_.tokens_per_image_vl1);
    e.seq = FormatTrainingSequence(config_, *tokenizer_, c.messages, tokens);
    if (e.seq.supervised == 0)
      Throw(ErrorCode::kInvalidArgument, ErrorContext{options.data, "conversation " + c.id, "an assistant turn", "none", ""});
    e.images = static_cast<int64_t>(c.image_paths.size());
    const int64_t per_image = vit.tokens() * vit.width();
    for (size_t i = 0; i < c.image_paths.size(); ++i) {
      const Tensor pixels = PreprocessVl1(DecodeImageFile(c.image_paths[i]), config_.vl1_processor, pool_.get());
      if (vit_) {
        e.pixels.insert(e.pixels.end(), pixels.f32(), pixels.f32() + pixels.numel());
      } else {
        e.features.resize(static_cast<size_t>(per_image) * (i + 1));
        vit.Forward(*pool_, pixels.f32(), 1, e.features.data() + static_cast<int64_t>(i) * per_image);
      }
    }
    data_.push_back(std::move(e));
  }
  order_.resize(data_.size());
  std::iota(order_.begin(), order_.end(), 0);
}

Vl1Trainer::~Vl1Trainer() = default;

int64_t Vl1Trainer::num_conversations() const { return static_cast<int64_t>(data_.size()); }

double Vl1Trainer::RunExamples(const std::vector<size_t>& which, bool backward, int64_t* tokens,
                               int64_t* supervised) {
  const int64_t d = llm_->hidden();
  int64_t n_sup = 0;
  for (size_t i : which) n_sup += data_[i].seq.supervised;
  double total = 0;
  std::vector<float> proj, embeds, d_embeds, d_proj, features, d_features;
  for (size_t i : which) {
    const Example& e = data_[i];
    const std::vector<int64_t>& ids = e.seq.prompt.ids;
    const int64_t T = static_cast<int64_t>(ids.size());
    const float* feats = e.features.data();
    if (vit_ && e.images > 0) {  // the tower trains: run it (its activations kept for the backward)
      features.assign(static_cast<size_t>(e.images * vit_->tokens() * vit_->width()), 0.0f);
      vit_->Forward(*pool_, e.pixels.data(), e.images, features.data());
      feats = features.data();
    }
    const int64_t n_img = e.images * config_.tokens_per_image_vl1;
    proj.assign(static_cast<size_t>(n_img * d), 0.0f);
    embeds.assign(static_cast<size_t>(T * d), 0.0f);
    if (n_img > 0) adaptor_->Forward(*pool_, feats, n_img, proj.data());
    llm_->Embed(ids.data(), T, embeds.data());
    std::vector<int64_t> table_ids = ids;
    int64_t img = 0;
    for (int64_t t = 0; t < T; ++t)
      if (e.seq.prompt.image_mask[static_cast<size_t>(t)]) {
        std::copy_n(proj.data() + img++ * d, d, embeds.data() + t * d);
        table_ids[static_cast<size_t>(t)] = -1;
      }
    Targets targets;
    for (int64_t t = 1; t < T; ++t)
      if (e.seq.labels[static_cast<size_t>(t)] != kIgnoreLabel) {
        targets.rows.push_back(t - 1);
        targets.labels.push_back(e.seq.labels[static_cast<size_t>(t)]);
      }
    d_embeds.assign(backward ? embeds.size() : 0, 0.0f);
    total += llm_->Run(*pool_, embeds.data(), table_ids.data(), T, targets, backward,
                       1.0f / static_cast<float>(n_sup), backward ? d_embeds.data() : nullptr);
    if (backward && n_img > 0) {
      d_proj.assign(proj.size(), 0.0f);
      img = 0;
      for (int64_t t = 0; t < T; ++t)
        if (e.seq.prompt.image_mask[static_cast<size_t>(t)]) std::copy_n(d_embeds.data() + t * d, d, d_proj.data() + img++ * d);
      if (vit_) {
        d_features.assign(static_cast<size_t>(n_img * adaptor_->input_dim()), 0.0f);
        adaptor_->Backward(*pool_, d_proj.data(), d_features.data());
        vit_->Backward(*pool_, d_features.data());
      } else {
        adaptor_->Backward(*pool_, d_proj.data(), nullptr);
      }
    }
    if (tokens) *tokens += T;
  }
  if (supervised) *supervised = n_sup;
  return total / static_cast<double>(n_sup);
}

StepReport Vl1Trainer::Step() {
  const auto t0 = std::chrono::steady_clock::now();
  StepReport r;
  r.step = ++step_;
  const size_t batch = options_.batch > 0 ? std::min<size_t>(static_cast<size_t>(options_.batch), data_.size())
                                          : data_.size();
  std::vector<size_t> which;
  while (which.size() < batch) {
    if (cursor_ == 0 && options_.batch > 0) {  // a new epoch: a fresh seeded order
      std::mt19937_64 rng(options_.seed + static_cast<uint64_t>(step_));
      std::shuffle(order_.begin(), order_.end(), rng);
    }
    which.push_back(order_[cursor_]);
    cursor_ = (cursor_ + 1) % order_.size();
  }
  params_.ZeroGrads();
  r.loss = RunExamples(which, true, &r.tokens, &r.supervised);

  double sq = 0;
  for (const TrainParam& p : params_.params())
    for (float g : p.grad) sq += static_cast<double>(g) * g;
  r.grad_norm = std::sqrt(sq);
  if (options_.grad_clip > 0 && r.grad_norm > options_.grad_clip) {
    const float s = static_cast<float>(options_.grad_clip / (r.grad_norm + 1e-6));
    for (TrainParam& p : params_.params())
      for (float& g : p.grad) g *= s;
  }
  AdamWOptions adam = options_.adam;
  const double warm = options_.warmup_steps;
  if (warm > 0 && static_cast<double>(r.step) <= warm) adam.lr *= static_cast<double>(r.step) / warm;
  else if (options_.cosine && options_.steps > options_.warmup_steps)
    adam.lr *= 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(r.step - options_.warmup_steps) /
                                     static_cast<double>(options_.steps - options_.warmup_steps)));
  r.lr = adam.lr;
  AdamWStep(params_, adam, r.step);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

double Vl1Trainer::EvalLoss() {
  std::vector<size_t> all(data_.size());
  std::iota(all.begin(), all.end(), 0);
  return RunExamples(all, false, nullptr, nullptr);
}

void CheckOutputDir(const std::string& model_dir, const std::string& out_dir) {
  if (fs::exists(out_dir) && fs::exists(model_dir) && fs::equivalent(out_dir, model_dir))
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"--out", "directory", "not the input model directory", out_dir, ""});
}

void Vl1Trainer::Save(const std::string& out_dir) const {
  CheckOutputDir(options_.model_dir, out_dir);
  const fs::path out(out_dir), in(options_.model_dir);
  fs::create_directories(out);
  for (const auto& entry : fs::directory_iterator(in)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.ends_with(".safetensors") || name == "model.safetensors.index.json") continue;
    fs::copy_file(entry.path(), out / name, fs::copy_options::overwrite_existing);
  }
  // Trained tensors in the checkpoint's dtype (bf16 rounded to nearest even); the others as they are.
  std::vector<Tensor> owned;
  std::vector<TensorToWrite> tensors;
  owned.reserve(params_.params().size());
  for (const auto& [name, info] : weights_->tensors()) {
    const TensorView& src = weights_->Get(name);
    const TrainParam* p = params_.Find(name);
    if (!p) {
      tensors.push_back({name, src});
      continue;
    }
    Tensor t = Tensor::Empty(src.dtype, src.shape);
    if (src.dtype == DType::kF32) {
      std::copy(p->value.begin(), p->value.end(), t.f32());
    } else if (src.dtype == DType::kBF16) {
      uint16_t* dst = t.as<uint16_t>();
      for (size_t i = 0; i < p->value.size(); ++i) dst[i] = F32ToBf16(p->value[i]);
    } else {
      Throw(ErrorCode::kUnsupported, ErrorContext{name, "dtype", "f32 or bf16 to save a trained tensor", DTypeName(src.dtype), ""});
    }
    owned.push_back(std::move(t));
    tensors.push_back({name, owned.back().view()});
  }
  WriteSafetensors((out / "model.safetensors").string(), tensors, {{"format", "pt"}});
}

}  // namespace dsvl::train
