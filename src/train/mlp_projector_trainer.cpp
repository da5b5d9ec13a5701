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
    Layer L;
    L.w = WeightRef(params, weights, p + "weight");
    L.b = WeightRef(params, weights, p + "bias");
    L.in = i == 0 ? config.input_dim : config.n_embed;
    L.out = config.n_embed;
    if (L.w.shape().rank != 2 || L.w.shape()[0] != L.out || L.w.shape()[1] != L.in)
      Throw(ErrorCode::kCorruptData, "training: " + p + "weight has an unexpected shape");
    layers_.push_back(std::move(L));
  }
  inputs_.resize(layers_.size());
  pre_.resize(layers_.size());
}

void MlpProjectorTrainer::Forward(ThreadPool& pool, const float* x, int64_t rows, float* out) {
  rows_ = rows;
  inputs_[0].assign(x, x + rows * config_.input_dim);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& L = layers_[i];
    pre_[i].assign(static_cast<size_t>(rows * L.out), 0.0f);
    LinearForward(pool, inputs_[i].data(), rows, L.in, L.w.data(), L.out, L.b.data(), pre_[i].data());
    if (i + 1 < layers_.size()) {
      inputs_[i + 1].resize(pre_[i].size());
      GeluErfForward(pre_[i].data(), rows * L.out, inputs_[i + 1].data());
    }
  }
  std::copy(pre_.back().begin(), pre_.back().end(), out);
}

void MlpProjectorTrainer::Backward(ThreadPool& pool, const float* dout, float* dx) {
  std::vector<float> dy(dout, dout + rows_ * config_.n_embed), dprev;
  for (size_t i = layers_.size(); i-- > 0;) {
    const Layer& L = layers_[i];
    const bool need_dx = i > 0 || dx != nullptr;
    dprev.assign(need_dx ? static_cast<size_t>(rows_ * L.in) : 0, 0.0f);
    LinearBackward(pool, inputs_[i].data(), rows_, L.in, L.w.data(), L.out, dy.data(),
                   need_dx ? dprev.data() : nullptr, L.w.grad(), L.b.grad());
    if (i > 0) {  // through the GELU that made this layer's input
      dy.assign(dprev.size(), 0.0f);
      GeluErfBackward(pre_[i - 1].data(), rows_ * L.in, dprev.data(), dy.data());
    }
  }
  if (dx) std::copy(dprev.begin(), dprev.end(), dx);
}

}  // namespace dsvl::train
