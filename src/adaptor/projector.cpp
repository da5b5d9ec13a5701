#include "adaptor/projector.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {

const char* ProjectorTypeName(ProjectorType t) {
  switch (t) {
    case ProjectorType::kMlpGelu: return "mlp_gelu";
    case ProjectorType::kLowHighHybridSplitMlpGelu: return "low_high_hybrid_split_mlp_gelu";
    case ProjectorType::kDownsampleMlpGelu: return "downsample_mlp_gelu";
  }
  return "?";
}

Projector::Projector(const ProjectorConfig& config, const WeightStore& weights) : config_(config) {
  const std::string& p = config_.prefix;
  const std::string where = p + " projector (" + ProjectorTypeName(config_.type) + ")";
  auto fail = [&](const std::string& field, const std::string& expected, const std::string& got) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, field, expected, got, ""});
  };
  if (config_.depth < 1) fail("depth", ">= 1", std::to_string(config_.depth));
  if (config_.input_dim <= 0) fail("input_dim", "positive", std::to_string(config_.input_dim));
  if (config_.n_embed <= 0) fail("n_embed", "positive", std::to_string(config_.n_embed));

  int64_t first_index = 0, linears = config_.depth;
  layers_input_ = config_.input_dim;
  switch (config_.type) {
    case ProjectorType::kMlpGelu: break;
    case ProjectorType::kLowHighHybridSplitMlpGelu: {
      if (config_.n_embed % 2 != 0) fail("n_embed", "even", std::to_string(config_.n_embed));
      const Shape up{config_.n_embed / 2, config_.input_dim};
      high_up_ = {weights.Get(p + "high_up_proj.weight", up), weights.Get(p + "high_up_proj.bias", Shape{up[0]})};
      low_up_ = {weights.Get(p + "low_up_proj.weight", up), weights.Get(p + "low_up_proj.bias", Shape{up[0]})};
      // layers = [GELU, Linear] * (depth - 1): the Linears sit at odd indices.
      first_index = 1;
      linears = config_.depth - 1;
      gelu_before_first_ = true;
      layers_input_ = config_.n_embed;
      break;
    }
    case ProjectorType::kDownsampleMlpGelu:
      if (config_.downsample_ratio < 1)
        fail("downsample_ratio", ">= 1", std::to_string(config_.downsample_ratio));
      layers_input_ = config_.input_dim * config_.downsample_ratio * config_.downsample_ratio;
      // Linear + (GELU, Linear) * (depth - 2) + GELU + Linear: never fewer than two Linears.
      linears = std::max<int64_t>(config_.depth, 2);
      break;
  }
  int64_t width = layers_input_;
  max_width_ = width;
  for (int64_t i = 0; i < linears; ++i) {
    const std::string name = p + "layers." + std::to_string(first_index + 2 * i);
    const TensorView& w = weights.Get(name + ".weight");
    if (w.rank() != 2 || w.dim(1) != width)
      fail(name + ".weight", "[*, " + std::to_string(width) + "]", w.shape.ToString());
    const bool last = i + 1 == linears;
    if (last && w.dim(0) != config_.n_embed)
      fail(name + ".weight", "[" + std::to_string(config_.n_embed) + ", *] (n_embed)", w.shape.ToString());
    layers_.push_back({w, weights.Get(name + ".bias", Shape{w.dim(0)})});
    width = w.dim(0);
    max_width_ = std::max(max_width_, width);
  }
  if (width != config_.n_embed)
    fail("output width", std::to_string(config_.n_embed) + " (n_embed)", std::to_string(width));
}

void Projector::CheckType(ProjectorType wanted, const char* entry) const {
  if (config_.type != wanted) {
    Throw(ErrorCode::kInternal, ErrorContext{"Projector", entry, ProjectorTypeName(wanted), ProjectorTypeName(config_.type), ""});
  }
}

int64_t Projector::DownsampledGrid(int64_t grid) const {
  const int64_t r = config_.downsample_ratio;
  return (grid + r - 1) / r;
}

void Projector::RunLayers(ThreadPool& pool, const float* x, int64_t rows, float* out) const {
  if (layers_.empty()) {
    std::copy_n(x, rows * layers_input_, out);
    return;
  }
  // Ping-pong between two scratch buffers; the last layer writes straight into out. The caller's
  // input is never modified (a GELU on it first copies it into scratch).
  Tensor scratch[2] = {Tensor::Empty(DType::kF32, Shape{rows, max_width_}),
                       Tensor::Empty(DType::kF32, Shape{rows, max_width_})};
  int64_t width = layers_input_;
  const float* cur = x;
  int cur_slot = -1;  // which scratch buffer holds cur (-1: the caller's x)
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (i > 0 || gelu_before_first_) {
      if (cur_slot < 0) {
        std::copy_n(cur, rows * width, scratch[0].f32());
        cur = scratch[0].f32();
        cur_slot = 0;
      }
      kernels::GeluErf(pool, scratch[cur_slot].f32(), rows * width);
    }
    const bool last = i + 1 == layers_.size();
    const int dst_slot = cur_slot == 0 ? 1 : 0;
    float* dst = last ? out : scratch[dst_slot].f32();
    kernels::Linear(pool, cur, rows, width, layers_[i].w, &layers_[i].b, dst);
    width = layers_[i].w.dim(0);
    cur = dst;
    cur_slot = dst_slot;
  }
}

void Projector::Forward(ThreadPool& pool, const float* x, int64_t rows, float* out) const {
  CheckType(ProjectorType::kMlpGelu, "Forward");
  RunLayers(pool, x, rows, out);
}

void Projector::ForwardHybrid(ThreadPool& pool, const float* high, const float* low, int64_t rows,
                              float* out) const {
  CheckType(ProjectorType::kLowHighHybridSplitMlpGelu, "ForwardHybrid");
  const int64_t half = config_.n_embed / 2;
  Tensor cat = Tensor::Empty(DType::kF32, Shape{rows, config_.n_embed});
  // Both up-projections write their half of each concatenated row in place (ldy = n_embed).
  kernels::Linear(pool, high, rows, config_.input_dim, high_up_.w, &high_up_.b, cat.f32(), 0, config_.n_embed);
  kernels::Linear(pool, low, rows, config_.input_dim, low_up_.w, &low_up_.b, cat.f32() + half, 0,
                  config_.n_embed);
  if (layers_.empty()) {
    std::copy_n(cat.f32(), rows * config_.n_embed, out);
    return;
  }
  RunLayers(pool, cat.f32(), rows, out);
}

void Projector::ForwardDownsample(ThreadPool& pool, const float* x, int64_t n, int64_t grid,
                                  float* out) const {
  CheckType(ProjectorType::kDownsampleMlpGelu, "ForwardDownsample");
  const int64_t r = config_.downsample_ratio, C = config_.input_dim, og = DownsampledGrid(grid);
  const int64_t rows = n * og * og, K = C * r * r;
  Tensor merged = Tensor::Empty(DType::kF32, Shape{rows, K});
  float* m = merged.f32();
  pool.ParallelFor(rows, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t view = t / (og * og), oy = (t / og) % og, ox = t % og;
      float* dst = m + t * K;
      for (int64_t dy = 0; dy < r; ++dy)
        for (int64_t dx = 0; dx < r; ++dx) {
          const int64_t y = oy * r + dy, xx = ox * r + dx, slot = dy * r + dx;
          if (y >= grid || xx >= grid) {  // the zero padding at the bottom / right
            for (int64_t c = 0; c < C; ++c) dst[c * r * r + slot] = 0.0f;
            continue;
          }
          const float* src = x + (view * grid * grid + y * grid + xx) * C;
          for (int64_t c = 0; c < C; ++c) dst[c * r * r + slot] = src[c];
        }
    }
  });
  RunLayers(pool, m, rows, out);
}

}  // namespace dsvl
