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
    data_ = p->value.data();
    grad_ = p->grad.data();
    shape_ = p->shape;
    return;
  }
  const TensorView& w = weights.Get(name);
  shape_ = w.shape;
  frozen_.resize(static_cast<size_t>(w.numel()));
  kernels::ToF32(w, 0, w.numel(), frozen_.data());
  data_ = frozen_.data();
}

}  // namespace dsvl
