#include "train/vl2_projector_trainer.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "train/grad_ops.h"

namespace dsvl::train {

Vl2ProjectorTrainer::Vl2ProjectorTrainer(const ProjectorConfig& config, const WeightStore& weights,
                                         ParamSet& params)
    : config_(config) {
  const std::string where = "training " + config.prefix + " projector (downsample_mlp_gelu)";
  if (config.type != ProjectorType::kDownsampleMlpGelu)
    Throw(ErrorCode::kUnsupported, where + ": the projector type is not downsample_mlp_gelu");
  if (config.depth < 1 || config.input_dim <= 0 || config.n_embed <= 0 || config.downsample_ratio < 1)
    Throw(ErrorCode::kCorruptData, ErrorContext{where, "depth, input_dim, n_embed, downsample_ratio", "positive",
                                                "", ""});
  const int64_t r = config.downsample_ratio;
  const int64_t linears = std::max<int64_t>(config.depth, 2);  // as the official MlpProjector builds it
  int64_t width = config.input_dim * r * r;
  for (int64_t i = 0; i < linears; ++i) {
    const std::string p = config.prefix + "layers." + std::to_string(2 * i) + ".";
    Layer L;
    L.w = WeightRef(params, weights, p + "weight");
    L.b = WeightRef(params, weights, p + "bias");
    const Shape& s = L.w.shape();
    const bool last = i + 1 == linears;
    if (s.rank != 2 || s[1] != width || (last && s[0] != config.n_embed)) {
      std::string expected = "[";  // appended piecewise: GCC 12 warns (-Wrestrict) on the one-expression form
      expected += last ? std::to_string(config.n_embed) : std::string("*");
      expected += ", ";
      expected += std::to_string(width);
      expected += "]";
      Throw(ErrorCode::kCorruptData, ErrorContext{where, p + "weight", expected, s.ToString(), ""});
    }
    if (L.b.shape() != Shape{s[0]})
      Throw(ErrorCode::kCorruptData, ErrorContext{where, p + "bias", Shape{s[0]}.ToString(), L.b.shape().ToString(), ""});
    L.in = width;
    L.out = s[0];
    width = L.out;
    layers_.push_back(std::move(L));
  }
  inputs_.resize(layers_.size());
  pre_.resize(layers_.size());
}

int64_t Vl2ProjectorTrainer::MergedGrid(int64_t grid) const {
  const int64_t r = config_.downsample_ratio;
  return (grid + r - 1) / r;
}

void Vl2ProjectorTrainer::Forward(ThreadPool& pool, const float* x, int64_t n, int64_t grid, float* out) {
  if (n <= 0 || grid <= 0)
    Throw(ErrorCode::kInvalidArgument, "training projector: no views or an empty token grid");
  const int64_t r = config_.downsample_ratio, C = config_.input_dim, og = MergedGrid(grid), K = C * r * r;
  n_ = n;
  grid_ = grid;
  rows_ = n * og * og;
  std::vector<float>& m = inputs_[0];
  m.assign(static_cast<size_t>(rows_ * K), 0.0f);  // the padding stays 0
  for (int64_t t = 0; t < rows_; ++t) {
    const int64_t view = t / (og * og), oy = (t / og) % og, ox = t % og;
    float* dst = m.data() + t * K;
    for (int64_t dy = 0; dy < r; ++dy)
      for (int64_t dx = 0; dx < r; ++dx) {
        const int64_t y = oy * r + dy, xx = ox * r + dx, slot = dy * r + dx;
        if (y >= grid || xx >= grid) continue;
        const float* src = x + (view * grid * grid + y * grid + xx) * C;
        for (int64_t c = 0; c < C; ++c) dst[c * r * r + slot] = src[c];
      }
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& L = layers_[i];
    pre_[i].assign(static_cast<size_t>(rows_ * L.out), 0.0f);
    LinearForward(pool, inputs_[i].data(), rows_, L.in, L.w.data(), L.out, L.b.data(), pre_[i].data());
    if (i + 1 < layers_.size()) {
      inputs_[i + 1].resize(pre_[i].size());
      GeluErfForward(pre_[i].data(), rows_ * L.out, inputs_[i + 1].data());
    }
  }
  std::copy(pre_.back().begin(), pre_.back().end(), out);
}

void Vl2ProjectorTrainer::Backward(ThreadPool& pool, const float* dout, float* dx) {
  if (rows_ <= 0) Throw(ErrorCode::kInvalidArgument, "training projector: Backward before Forward");
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
  if (!dx) return;
  // Un-merge: each tower token is in exactly one merged column, so this writes every element of dx.
  const int64_t r = config_.downsample_ratio, C = config_.input_dim, og = MergedGrid(grid_), K = C * r * r;
  for (int64_t t = 0; t < rows_; ++t) {
    const int64_t view = t / (og * og), oy = (t / og) % og, ox = t % og;
    const float* src = dprev.data() + t * K;
    for (int64_t dy_ = 0; dy_ < r; ++dy_)
      for (int64_t dx_ = 0; dx_ < r; ++dx_) {
        const int64_t y = oy * r + dy_, xx = ox * r + dx_, slot = dy_ * r + dx_;
        if (y >= grid_ || xx >= grid_) continue;  // padding: no token behind it
        float* dst = dx + (view * grid_ * grid_ + y * grid_ + xx) * C;
        for (int64_t c = 0; c < C; ++c) dst[c] = src[c * r * r + slot];
      }
  }
}

}  // namespace dsvl::train
