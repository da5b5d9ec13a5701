#include "train/param_set.h"

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {

TrainParam& ParamSet::Add(const WeightStore& weights, const std::string& name) {
  if (index_.count(name)) Throw(ErrorCode::kInvalidArgument, "parameter '" + name + "' added twice");
  const TensorView& w = weights.Get(name);
  TrainParam p;
  p.name = name;
  p.shape = w.shape;
  p.value.resize(static_cast<size_t>(w.numel()));
  kernels::ToF32(w, 0, w.numel(), p.value.data());
  p.grad.assign(p.value.size(), 0.0f);
  index_[name] = params_.size();
  params_.push_back(std::move(p));
  return params_.back();
}

TrainParam* ParamSet::Find(const std::string& name) {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &params_[it->second];
}

const TrainParam* ParamSet::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &params_[it->second];
}

void ParamSet::ZeroGrads() {
  for (TrainParam& p : params_) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

WeightRef::WeightRef(ParamSet& params, const WeightStore& weights, const std::string& name) {
  if (TrainParam* p = params.Find(name)) {
    view_ = TensorView(DType::kF32, p->shape, p->value.data());
    grad_ = p->grad.data();
    return;
  }
  view_ = weights.Get(name);
  if (IsQuantized(view_.dtype)) {
    frozen_.resize(static_cast<size_t>(view_.numel()));
    kernels::ToF32(view_, 0, view_.numel(), frozen_.data());
    view_ = TensorView(DType::kF32, view_.shape, frozen_.data());
  }
}

WeightRef::WeightRef(ParamSet& params, const WeightStore& weights, const std::string& name, const Shape& expected) {
  weights.Get(name, expected);  // a trainable copy has the checkpoint's shape too
  *this = WeightRef(params, weights, name);
}

const float* WeightRef::data() const {
  if (view_.dtype == DType::kF32 || view_.empty()) return view_.f32();
  if (frozen_.empty()) {
    frozen_.resize(static_cast<size_t>(view_.numel()));
    kernels::ToF32(view_, 0, view_.numel(), frozen_.data());
  }
  return frozen_.data();
}

}  // namespace dsvl
