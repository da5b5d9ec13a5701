#include "train/gelu_mlp.h"

#include <algorithm>

#include "dsvl/error.h"
#include "train/grad_ops.h"

namespace dsvl::train {

void GeluMlp::AddLayer(WeightRef w, WeightRef b, int64_t in, int64_t out) {
  layers_.push_back(Layer{std::move(w), std::move(b), in, out});
  inputs_.resize(layers_.size());
  pre_.resize(layers_.size());
}

void GeluMlp::Forward(ThreadPool& pool, std::vector<float> x, int64_t rows, float* out) {
  rows_ = rows;
  inputs_[0] = std::move(x);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& L = layers_[i];
    pre_[i].assign(static_cast<size_t>(rows * L.out), 0.0f);
    LinearForward(pool, inputs_[i].data(), rows, L.in, L.w.view(), L.out, L.b.data(), pre_[i].data());
    if (i + 1 < layers_.size()) {
      inputs_[i + 1].resize(pre_[i].size());
      GeluErfForward(pre_[i].data(), rows * L.out, inputs_[i + 1].data());
    }
  }
  std::copy(pre_.back().begin(), pre_.back().end(), out);
}

void GeluMlp::Backward(ThreadPool& pool, const float* dout, float* dx) {
  if (rows_ <= 0) Throw(ErrorCode::kInvalidArgument, "training MLP: Backward before Forward");
  std::vector<float> dy(dout, dout + rows_ * layers_.back().out), dprev;
  for (size_t i = layers_.size(); i-- > 0;) {
    const Layer& L = layers_[i];
    const bool need_dx = i > 0 || dx != nullptr;
    dprev.assign(need_dx ? static_cast<size_t>(rows_ * L.in) : 0, 0.0f);
    LinearBackward(pool, inputs_[i].data(), rows_, L.in, L.w.view(), L.out, dy.data(),
                   need_dx ? dprev.data() : nullptr, L.w.grad(), L.b.grad());
    if (i > 0) {  // through the GELU that made this layer's input
      dy.assign(dprev.size(), 0.0f);
      GeluErfBackward(pre_[i - 1].data(), rows_ * L.in, dprev.data(), dy.data());
    }
  }
  if (dx) std::copy(dprev.begin(), dprev.end(), dx);
}

}  // namespace dsvl::train
