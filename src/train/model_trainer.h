// `dsvl train`: the papers' stages as trainable sets, AdamW with warm-up and cosine decay, gradient
// clipping, and checkpoints written in the official Hugging Face layout. Two families:
//  DeepSeek-VL with the SigLIP tower and mlp_gelu aligner (the 1.3B layout):
//   align:    the aligner only (stage 1)
//   pretrain: aligner + language model, vision frozen (stage 2)
//   sft:      aligner + language model + SigLIP
//  DeepSeek-VL2 (SigLIP-SO400M, downsample projector, MoE language model with its auxiliary loss):
//   align:    vision tower + projector + image_newline / view_seperator (language model frozen)
//   pretrain, sft: everything
// The SigLIP attention-pool head is not in the forward and is left as it is, as the official
// optimizer skips it.
// Each step takes `batch` conversations (in a seeded shuffled order, epoch after epoch); the loss is
// the summed cross-entropy of their supervised tokens over their count, as the official fixtures do.
// While the tower is frozen (align, pretrain) its outputs are computed once per image and reused.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/thread_pool.h"
#include "model/model_config.h"
#include "train/adamw.h"
#include "train/param_set.h"

namespace dsvl {

class WeightStore;
class Tokenizer;

namespace train {

class DecoderTrainer;
class MlpProjectorTrainer;
class VitTrainer;
class Vl2ImageTrainer;

struct TrainOptions {
  std::string model_dir, data, images_dir;
  std::string eval_data;   // held-out conversations for EvalLoss (empty: the training data)
  std::string text_data;   // text-only conversations mixed in (the DeepSeek-VL pretraining mixture)
  double text_ratio = 0;   // share of a step's conversations drawn from text_data
  bool resume = false;     // model_dir is a `dsvl train` output: continue its step count and AdamW moments
  std::string stage = "sft";  // align | pretrain | sft
  int64_t steps = 1;
  int64_t batch = 0;  // conversations per step; 0 = all of them
  AdamWOptions adam;
  int64_t warmup_steps = 0;
  bool cosine = false;  // cosine decay to 0 after warm-up (else constant)
  double grad_clip = 0;  // max global gradient norm; 0 = no clipping
  int threads = 0;
  uint64_t seed = 0;
};

struct StepReport {
  int64_t step = 0;
  double loss = 0;
  int64_t tokens = 0;      // tokens run (all positions)
  int64_t supervised = 0;  // tokens in the loss
  double lr = 0;
  double grad_norm = 0;    // before clipping
  double seconds = 0;
};

// Throws kInvalidArgument when `out_dir` is the model directory itself (checked before training, so a
// long run does not fail at the end).
void CheckOutputDir(const std::string& model_dir, const std::string& out_dir);

class ModelTrainer {
 public:
  explicit ModelTrainer(const TrainOptions& options);
  ~ModelTrainer();

  // Trainable tensors and elements, and a line about what the stage could not train.
  const ParamSet& params() const { return params_; }
  const std::string& note() const { return note_; }
  int64_t num_conversations() const;
  int64_t step() const { return step_; }

  // One optimizer step (1-based step numbers, in order).
  StepReport Step();
  // Loss at the current parameters over every eval conversation (eval_data, else the training
  // data), no update.
  double EvalLoss();
  // The model directory in the official layout: every non-weight file copied, all tensors in one
  // model.safetensors in the checkpoint's dtypes (trained ones rounded from the f32 masters); the
  // AdamW moments and step count in optimizer/ (state.safetensors, state.json) for --resume.
  void Save(const std::string& out_dir) const;

 private:
  struct Example;
  std::vector<Example> LoadExamples(const std::string& path, bool allow_images);
  double RunExamples(const std::vector<const Example*>& which, bool backward, int64_t* tokens, int64_t* supervised);
  void LoadOptimizerState();
  void RestoreDataWalk(const nlohmann::json& data);

  TrainOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<WeightStore> weights_;
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ParamSet params_;
  std::unique_ptr<DecoderTrainer> llm_;  // both families
  std::unique_ptr<MlpProjectorTrainer> adaptor_;
  std::unique_ptr<VitTrainer> vit_;  // sft only: the tower trains
  std::unique_ptr<Vl2ImageTrainer> v2_image_;
  std::vector<Example> data_, text_, eval_;
  std::vector<size_t> order_, text_order_;
  size_t cursor_ = 0, text_cursor_ = 0;
  uint64_t mix_draws_ = 0;  // draws of the text/multimodal choice so far (seeds each one)
  int64_t step_ = 0;
  std::string note_;
};

}  // namespace train
}  // namespace dsvl
