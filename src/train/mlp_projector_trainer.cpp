#include "train/mlp_projector_trainer.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"
#include "train/grad_ops.h"

namespace dsvl::train {

MlpProjectorTrainer::MlpProjectorTrainer(const ProjectorConfig& config, const WeightStore& weights,
                                         ParamSet& params)
    : config_(config) {
  if (config.type != ProjectorType::kMlpGelu || config.depth < 1)
    Throw(ErrorCode::kUnsupported, "training: only the mlp_gelu projector is implemented");
  for (int64_t i = 0; i < config.depth; ++i) {
    const std::string p = config.prefix + "layers." + std::to_string(2 * i) + ".";
    WeightRef w(params, weights, p + "weight");
    const int64_t in = i == 0 ? config.input_dim : config.n_embed, out = config.n_embed;
    if (w.shape().rank != 2 || w.shape()[0] != out || w.shape()[1] != in)
      Throw(ErrorCode::kCorruptData, "training: " + p + "weight has an unexpected shape");
    mlp_.AddLayer(std::move(w), WeightRef(params, weights, p + "bias"), in, out);
  }
}

void MlpProjectorTrainer::Forward(ThreadPool& pool, const float* x, int64_t rows, float* out) {
  mlp_.Forward(pool, std::vector<float>(x, x + rows * config_.input_dim), rows, out);
}

void MlpProjectorTrainer::Backward(ThreadPool& pool, const float* dout, float* dx) { mlp_.Backward(pool, dout, dx); }

}  // namespace dsvl::train
