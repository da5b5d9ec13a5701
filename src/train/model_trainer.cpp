#include "train/model_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include <fstream>

#include <nlohmann/json.hpp>

#include "dsvl/error.h"
#include "kernels/ops.h"
#include "io/image_decode.h"
#include "io/safetensors.h"
#include "text/tokenizer.h"
#include "train/decoder_trainer.h"
#include "train/mlp_projector_trainer.h"
#include "train/sft_data.h"
#include "train/vit_trainer.h"
#include "train/vl2_image_trainer.h"
#include "vision/preprocess_vl2.h"
#include "model/prompt_builder.h"
#include "model/vl_image_embedders.h"
#include "vision/preprocess_vl1.h"
#include "vision/vit.h"

namespace dsvl::train {
namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

struct ModelTrainer::Example {
  TrainingSequence seq;
  int64_t images = 0;
  std::vector<float> features;  // frozen tower: its SigLIP outputs, [images * 576, width]
  std::vector<float> pixels;    // training tower: its preprocessed images (VL2: every view)
  std::vector<std::pair<int64_t, int64_t>> tiles;  // VL2: (tiles_w, tiles_h) per image
};

ModelTrainer::ModelTrainer(const TrainOptions& options) : options_(options) {
  if (options.stage != "align" && options.stage != "pretrain" && options.stage != "sft")
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"--stage", "stage", "align, pretrain or sft", options.stage, ""});
  if (options.steps < 0 || options.batch < 0 || options.warmup_steps < 0 || options.grad_clip < 0 ||
      !(options.adam.lr > 0))
    Throw(ErrorCode::kInvalidArgument, "train: steps, batch, warm-up and clipping must be >= 0 and lr > 0");
  pool_ = std::make_unique<ThreadPool>(options.threads);
  weights_ = WeightStore::Open(options.model_dir);
  config_ = LoadModelConfig(options.model_dir, *weights_);
  const bool vl2 = config_.family == ModelFamily::kDeepSeekVL2;
  if (!config_.siglip || config_.sam ||
      (!vl2 && config_.projector.type != ProjectorType::kMlpGelu))
    Throw(ErrorCode::kUnsupported,
          ErrorContext{options.model_dir, "model", "DeepSeek-VL2, or DeepSeek-VL with the SigLIP tower and mlp_gelu aligner",
                       "DeepSeek-VL 7B (SAM + SigLIP)", "training DeepSeek-VL 7B is not implemented yet"});
  tokenizer_ = Tokenizer::Load(options.model_dir);
  if (vl2) RegisterVl2SpecialTokens(*tokenizer_);

  // Trainable sets, from each paper (see the header).
  const bool train_tower = options.stage == "sft" || vl2;
  for (const auto& [name, info] : weights_->tensors()) {
    const bool adaptor = StartsWith(name, config_.projector.prefix) || name == "image_newline" || name == "view_seperator";
    const bool llm = StartsWith(name, config_.llm.prefix);
    const bool tower = StartsWith(name, config_.siglip->prefix) && name.find(".attn_pool.") == std::string::npos;
    if (adaptor || (llm && options.stage != "align") || (tower && train_tower)) params_.Add(*weights_, name);
  }
  llm_ = std::make_unique<DecoderTrainer>(config_.llm, *weights_, params_);
  if (vl2) {
    v2_image_ = std::make_unique<Vl2ImageTrainer>(config_, *weights_, params_);
  } else {
    adaptor_ = std::make_unique<MlpProjectorTrainer>(config_.projector, *weights_, params_);
    if (train_tower) vit_ = std::make_unique<VitTrainer>(*config_.siglip, *weights_, params_);
  }

  if (options.text_ratio < 0 || options.text_ratio > 1 || (options.text_ratio > 0 && options.text_data.empty()))
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"--text-ratio", "value", "in [0, 1], with --text-data", std::to_string(options.text_ratio), ""});
  data_ = LoadExamples(options.data, true);
  if (!options.text_data.empty()) text_ = LoadExamples(options.text_data, false);
  if (!options.eval_data.empty()) eval_ = LoadExamples(options.eval_data, true);
  order_.resize(data_.size());
  std::iota(order_.begin(), order_.end(), 0);
  text_order_.resize(text_.size());
  std::iota(text_order_.begin(), text_order_.end(), 0);
  if (options.resume) LoadOptimizerState();
}

// Conversations formatted once; a frozen tower's outputs computed once per image.
std::vector<ModelTrainer::Example> ModelTrainer::LoadExamples(const std::string& path, bool allow_images) {
  VisionTransformer vit(*config_.siglip, *weights_);
  std::vector<Example> out;
  for (const TrainingConversation& c : ReadTrainingJsonl(path, config_.family, options_.images_dir)) {
    if (!allow_images && !c.image_paths.empty())
      Throw(ErrorCode::kInvalidArgument, ErrorContext{path, "conversation " + c.id, "text only (--text-data)", "images", ""});
    Example e;
    std::vector<int64_t> tokens(c.image_paths.size(), config_.tokens_per_image_vl1);
    if (v2_image_) {  // VL2: each image's views (tiling as the processor does), kept for the tower
      const bool cropping = c.image_paths.size() <= 2;
      for (size_t i = 0; i < c.image_paths.size(); ++i) {
        const Vl2Views views = PreprocessVl2(DecodeImageFile(c.image_paths[i]), config_.vl2_processor, cropping, pool_.get());
        e.pixels.insert(e.pixels.end(), views.pixels.f32(), views.pixels.f32() + views.pixels.numel());
        e.tiles.emplace_back(views.tiles_w, views.tiles_h);
        tokens[i] = Vl2ImageTokens(v2_image_->side(), views.tiles_w, views.tiles_h);
      }
    }
    e.seq = FormatTrainingSequence(config_, *tokenizer_, c.messages, tokens);
    if (e.seq.supervised == 0)
      Throw(ErrorCode::kInvalidArgument, ErrorContext{path, "conversation " + c.id, "an assistant turn", "none", ""});
    e.images = static_cast<int64_t>(c.image_paths.size());
    if (v2_image_) {
      out.push_back(std::move(e));
      continue;
    }
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
    out.push_back(std::move(e));
  }
  return out;
}

ModelTrainer::~ModelTrainer() = default;

int64_t ModelTrainer::num_conversations() const { return static_cast<int64_t>(data_.size()); }

double ModelTrainer::RunExamples(const std::vector<const Example*>& which, bool backward, int64_t* tokens,
                               int64_t* supervised) {
  const int64_t d = llm_->hidden();
  int64_t n_sup = 0;
  for (const Example* e : which) n_sup += e->seq.supervised;
  double total = 0;
  std::vector<float> proj, embeds, d_embeds, d_proj, features, d_features;
  for (const Example* ep : which) {
    const Example& e = *ep;
    const std::vector<int64_t>& ids = e.seq.prompt.ids;
    const int64_t T = static_cast<int64_t>(ids.size());
    int64_t n_img = 0;
    for (uint8_t m : e.seq.prompt.image_mask) n_img += m != 0;
    proj.assign(static_cast<size_t>(n_img * d), 0.0f);
    if (v2_image_) {
      // VL2: every view through the tower, the projector and the tile layout (all trained).
      if (e.images > 0 && v2_image_->Forward(*pool_, e.pixels.data(), e.tiles, proj.data()) != n_img)
        Throw(ErrorCode::kInternal, "train: VL2 image rows differ from the prompt's image positions");
    } else if (n_img > 0) {
      const float* feats = e.features.data();
      if (vit_) {  // the tower trains: run it (its activations kept for the backward)
        features.assign(static_cast<size_t>(e.images * vit_->tokens() * vit_->width()), 0.0f);
        vit_->Forward(*pool_, e.pixels.data(), e.images, features.data());
        feats = features.data();
      }
      adaptor_->Forward(*pool_, feats, n_img, proj.data());
    }
    embeds.assign(static_cast<size_t>(T * d), 0.0f);
    llm_->Embed(ids.data(), T, embeds.data());
    std::vector<int64_t> table_ids = ids;
    int64_t img = 0;
    for (int64_t t = 0; t < T; ++t)
      if (e.seq.prompt.image_mask[static_cast<size_t>(t)]) {
        std::copy_n(proj.data() + img++ * d, d, embeds.data() + t * d);
        table_ids[static_cast<size_t>(t)] = -1;
      }
    const Targets targets = ShiftedTargets(e.seq.labels, kIgnoreLabel);
    d_embeds.assign(backward ? embeds.size() : 0, 0.0f);
    const float scale = 1.0f / static_cast<float>(n_sup);
    float* d_out = backward ? d_embeds.data() : nullptr;
    total += llm_->Run(*pool_, embeds.data(), table_ids.data(), T, targets, backward, scale, d_out);
    if (backward && n_img > 0) {
      d_proj.assign(proj.size(), 0.0f);
      img = 0;
      for (int64_t t = 0; t < T; ++t)
        if (e.seq.prompt.image_mask[static_cast<size_t>(t)]) std::copy_n(d_embeds.data() + t * d, d, d_proj.data() + img++ * d);
      if (v2_image_) {
        v2_image_->Backward(*pool_, d_proj.data());
      } else if (vit_) {
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

StepReport ModelTrainer::Step() {
  const auto t0 = std::chrono::steady_clock::now();
  StepReport r;
  r.step = ++step_;
  const size_t batch = options_.batch > 0 ? std::min<size_t>(static_cast<size_t>(options_.batch), data_.size())
                                          : data_.size();
  std::vector<const Example*> which;
  // Each conversation of the step is text-only with probability text_ratio (seeded draws), else
  // multimodal; each source is walked in a seeded shuffled order, epoch after epoch.
  auto next = [&](std::vector<Example>& src, std::vector<size_t>& order, size_t& cursor, uint64_t salt) {
    if (cursor == 0 && (options_.batch > 0 || salt != 0)) {
      std::mt19937_64 rng(options_.seed + salt + static_cast<uint64_t>(step_));
      std::shuffle(order.begin(), order.end(), rng);
    }
    const Example* e = &src[order[cursor]];
    cursor = (cursor + 1) % order.size();
    return e;
  };
  while (which.size() < batch) {
    bool text = false;
    if (!text_.empty() && options_.text_ratio > 0) {
      std::mt19937_64 rng(options_.seed ^ (0x9e3779b97f4a7c15ull * ++mix_draws_));
      text = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < options_.text_ratio;
    }
    which.push_back(text ? next(text_, text_order_, text_cursor_, 0x7e47ull) : next(data_, order_, cursor_, 0));
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

double ModelTrainer::EvalLoss() {
  std::vector<const Example*> all;
  for (const Example& e : eval_.empty() ? data_ : eval_) all.push_back(&e);
  return RunExamples(all, false, nullptr, nullptr);
}

// optimizer/state.safetensors holds "<name>.exp_avg" and "<name>.exp_avg_sq" per trained tensor;
// optimizer/state.json the step count and stage. (A subdirectory, so the model directory's own
// *.safetensors stay the model's tensors.)
void ModelTrainer::LoadOptimizerState() {
  const fs::path dir = fs::path(options_.model_dir) / "optimizer";
  const nlohmann::json state = ReadJsonFile((dir / "state.json").string());
  if (!state.contains("step") || !state["step"].is_number_integer() || state["step"].get<int64_t>() < 0)
    Throw(ErrorCode::kCorruptData, ErrorContext{(dir / "state.json").string(), "step", "a step count", "missing", ""});
  if (state.value("stage", "") != options_.stage)
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"--resume", "stage", "the saved run's stage (" + state.value("stage", "") + ")",
                                                    options_.stage, ""});
  const auto moments = WeightStore::Open((dir / "state.safetensors").string());
  for (TrainParam& p : params_.params()) {
    const TensorView& m = moments->Get(p.name + ".exp_avg", p.shape);
    const TensorView& v = moments->Get(p.name + ".exp_avg_sq", p.shape);
    p.adam_m.resize(p.value.size());
    p.adam_v.resize(p.value.size());
    kernels::ToF32(m, 0, m.numel(), p.adam_m.data());
    kernels::ToF32(v, 0, v.numel(), p.adam_v.data());
  }
  step_ = state["step"].get<int64_t>();
  RestoreDataWalk(state.value("data", nlohmann::json()));
}

// The saved walk is continued when it fits this run (same seed, same conversation counts);
// otherwise the data order starts a new epoch, and note() says why.
void ModelTrainer::RestoreDataWalk(const nlohmann::json& data) {
  auto permutation = [](const nlohmann::json& j, size_t n, std::vector<size_t>* out) {
    if (!j.is_array() || j.size() != n) return false;
    std::vector<size_t> v;
    std::vector<bool> seen(n, false);
    for (const nlohmann::json& e : j) {
      if (!e.is_number_unsigned() || e.get<uint64_t>() >= n || seen[e.get<size_t>()]) return false;
      seen[e.get<size_t>()] = true;
      v.push_back(e.get<size_t>());
    }
    *out = std::move(v);
    return true;
  };
  auto index = [](const nlohmann::json& j, size_t n, size_t* out) {
    if (!j.is_number_unsigned() || j.get<uint64_t>() >= std::max<size_t>(n, 1)) return false;
    *out = j.get<size_t>();
    return true;
  };
  std::vector<size_t> order, text_order;
  size_t cursor = 0, text_cursor = 0;
  const bool fits = data.is_object() && data.value("seed", uint64_t{0}) == options_.seed &&
                    data.contains("mix_draws") && data["mix_draws"].is_number_unsigned() &&
                    permutation(data.value("order", nlohmann::json()), data_.size(), &order) &&
                    permutation(data.value("text_order", nlohmann::json()), text_.size(), &text_order) &&
                    index(data.value("cursor", nlohmann::json()), data_.size(), &cursor) &&
                    index(data.value("text_cursor", nlohmann::json()), text_.size(), &text_cursor);
  if (!fits) {
    note_ = "the saved data order does not fit this run (other data, seed or an older save): a new epoch starts";
    return;
  }
  order_ = std::move(order);
  text_order_ = std::move(text_order);
  cursor_ = cursor;
  text_cursor_ = text_cursor;
  mix_draws_ = data["mix_draws"].get<uint64_t>();
}

void CheckOutputDir(const std::string& model_dir, const std::string& out_dir) {
  if (fs::exists(out_dir) && fs::exists(model_dir) && fs::equivalent(out_dir, model_dir))
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"--out", "directory", "not the input model directory", out_dir, ""});
}

void ModelTrainer::Save(const std::string& out_dir) const {
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

  // Optimizer state for --resume (after a run with 0 steps there are no moments yet: zeros).
  fs::create_directories(out / "optimizer");
  std::vector<Tensor> moments;
  std::vector<TensorToWrite> state;
  moments.reserve(2 * params_.params().size());
  for (const TrainParam& p : params_.params()) {
    for (const auto* src : {&p.adam_m, &p.adam_v}) {
      Tensor t = Tensor::Zeros(DType::kF32, p.shape);
      if (!src->empty()) std::copy(src->begin(), src->end(), t.f32());
      moments.push_back(std::move(t));
      state.push_back({p.name + (src == &p.adam_m ? ".exp_avg" : ".exp_avg_sq"), moments.back().view()});
    }
  }
  WriteSafetensors((out / "optimizer" / "state.safetensors").string(), state, {{"format", "pt"}});
  nlohmann::json j{{"step", step_}, {"stage", options_.stage}, {"lr", options_.adam.lr},
                   {"weight_decay", options_.adam.weight_decay}};
  // Where the data walk stands, so that a resumed run draws the conversations the uninterrupted one
  // would have drawn next (the shuffled orders depend on every earlier shuffle, so they are saved).
  j["data"] = {{"seed", options_.seed},       {"order", order_},           {"cursor", cursor_},
               {"text_order", text_order_}, {"text_cursor", text_cursor_}, {"mix_draws", mix_draws_}};
  std::ofstream((out / "optimizer" / "state.json").string()) << j.dump(2) << "\n";
}

}  // namespace dsvl::train
