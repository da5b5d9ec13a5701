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
    WeightRef w(params, weights, p + "weight"), b(params, weights, p + "bias");
    const Shape s = w.shape();
    const bool last = i + 1 == linears;
    if (s.rank != 2 || s[1] != width || (last && s[0] != config.n_embed)) {
      std::string expected = "[";  // appended piecewise: GCC 12 warns (-Wrestrict) on the one-expression form
      expected += last ? std::to_string(config.n_embed) : std::string("*");
      expected += ", ";
      expected += std::to_string(width);
      expected += "]";
      Throw(ErrorCode::kCorruptData, ErrorContext{where, p + "weight", expected, s.ToString(), ""});
    }
    if (b.shape() != Shape{s[0]})
      Throw(ErrorCode::kCorruptData, ErrorContext{where, p + "bias", Shape{s[0]}.ToString(), b.shape().ToString(), ""});
    mlp_.AddLayer(std::move(w), std::move(b), width, s[0]);
    width = s[0];
  }
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
  std::vector<float> m(static_cast<size_t>(rows_ * K), 0.0f);  // the padding stays 0
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
  mlp_.Forward(pool, std::move(m), rows_, out);
}

void Vl2ProjectorTrainer::Backward(ThreadPool& pool, const float* dout, float* dx) {
  if (rows_ <= 0) Throw(ErrorCode::kInvalidArgument, "training projector: Backward before Forward");
  if (!dx) {
    mlp_.Backward(pool, dout, nullptr);
    return;
  }
  std::vector<float> dprev(static_cast<size_t>(rows_ * config_.input_dim * config_.downsample_ratio *
                                               config_.downsample_ratio));
  mlp_.Backward(pool, dout, dprev.data());
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
