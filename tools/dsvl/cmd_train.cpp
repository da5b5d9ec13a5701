// `dsvl train -m DIR --data train.jsonl --stage align|pretrain|sft --out DIR2 [--steps N] [--batch N]
// [--lr X] [--warmup N] [--cosine] [--grad-clip X] [--weight-decay X] [--eval-every N] [--seed N]
// [--eval-data F] [--text-data F --text-ratio X] [--resume]`:
// trains a DeepSeek-VL (1.3B layout) checkpoint on JSONL conversations (train/model_trainer.h) and writes
// the result in the official layout, which `dsvl run -m DIR2` (and the official code) loads.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "dsvl/error.h"
#include "train/model_trainer.h"

namespace dsvl::cli {

void AddTrainCommand(CLI::App& app) {
  auto o = std::make_shared<train::TrainOptions>();
  auto out = std::make_shared<std::string>();
  auto eval_every = std::make_shared<int64_t>(0);
  auto* cmd = app.add_subcommand("train", "Train a model on JSONL conversations (DeepSeek-VL 1.3B layout)");
  cmd->add_option("-m,--model", o->model_dir, "model directory to start from")->required();
  cmd->add_option("--data", o->data, "training conversations, one JSON object per line")->required();
  cmd->add_option("--images", o->images_dir, "directory for relative image paths (default: the data file's)");
  cmd->add_option("--eval-data", o->eval_data, "held-out conversations for the eval loss (default: the training data)");
  cmd->add_option("--text-data", o->text_data, "text-only conversations mixed into the steps (pretraining mixture)");
  cmd->add_option("--text-ratio", o->text_ratio, "share of each step's conversations drawn from --text-data");
  cmd->add_flag("--resume", o->resume, "-m is a `dsvl train` output: continue its step count and optimizer state");
  // Checked by the trainer, so a bad value is a dsvl error (status 1) naming the flag.
  cmd->add_option("--stage", o->stage, "align (aligner), pretrain (aligner + LLM) or sft (+ SigLIP); default sft");
  cmd->add_option("-o,--out", *out, "output model directory")->required();
  cmd->add_option("--steps", o->steps, "optimizer steps")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", o->batch, "conversations per step (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", o->adam.lr, "peak learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--weight-decay", o->adam.weight_decay, "AdamW decoupled weight decay")->check(CLI::NonNegativeNumber);
  cmd->add_option("--warmup", o->warmup_steps, "linear warm-up steps")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--cosine", o->cosine, "cosine decay to 0 after the warm-up");
  cmd->add_option("--grad-clip", o->grad_clip, "clip the global gradient norm (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-every", *eval_every, "print the loss over all the data every N steps (0 = at the end only)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->seed, "seed of the data order");
  cmd->add_option("-t,--threads", o->threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->callback([o, out, eval_every] {
    train::CheckOutputDir(o->model_dir, *out);
    train::ModelTrainer trainer(*o);
    int64_t elements = 0;
    for (const TrainParam& p : trainer.params().params()) elements += p.numel();
    std::printf("train: stage %s, %zu tensors (%lld parameters) trainable, %lld conversations\n", o->stage.c_str(),
                trainer.params().params().size(), static_cast<long long>(elements),
                static_cast<long long>(trainer.num_conversations()));
    if (!trainer.note().empty()) std::printf("note: %s\n", trainer.note().c_str());
    std::printf("eval after step %lld: loss %.6f\n", static_cast<long long>(trainer.step()), trainer.EvalLoss());
    if (trainer.step() > 0) std::printf("resuming after step %lld\n", static_cast<long long>(trainer.step()));
    for (int64_t s = 1; s <= o->steps; ++s) {
      const train::StepReport r = trainer.Step();
      std::printf("step %lld: loss %.6f  lr %.3g  grad-norm %.4g  %lld tokens (%lld supervised)  %.0f tok/s\n",
                  static_cast<long long>(r.step), r.loss, r.lr, r.grad_norm, static_cast<long long>(r.tokens),
                  static_cast<long long>(r.supervised), r.tokens / std::max(r.seconds, 1e-9));
      if (*eval_every > 0 && s % *eval_every == 0 && s != o->steps)
        std::printf("eval after step %lld: loss %.6f\n", static_cast<long long>(r.step), trainer.EvalLoss());
    }
    std::printf("eval after step %lld: loss %.6f\n", static_cast<long long>(trainer.step()), trainer.EvalLoss());
    trainer.Save(*out);
    std::printf("saved %s\n", out->c_str());
  });
}

}  // namespace dsvl::cli
