// The parameters a training run updates: f32 master copies of checkpoint tensors (bf16 checkpoints
// are widened once), each with its gradient and AdamW moments. Frozen tensors are read straight
// from the checkpoint's views and have no entry here, so only what is trained costs memory.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dsvl {

class WeightStore;

struct TrainParam {
  std::string name;  // the checkpoint's tensor name
  Shape shape;
  std::vector<float> value, grad;
  std::vector<float> adam_m, adam_v;  // AdamW moments (empty until the first step)
  int64_t numel() const { return static_cast<int64_t>(value.size()); }
};

class ParamSet {
 public:
  // Copies `name` from the checkpoint as a trainable parameter (gradient zeroed). Adding a name twice
  // is an error.
  TrainParam& Add(const WeightStore& weights, const std::string& name);
  // nullptr when `name` is not trained.
  TrainParam* Find(const std::string& name);
  const TrainParam* Find(const std::string& name) const;
  void ZeroGrads();
  std::deque<TrainParam>& params() { return params_; }
  const std::deque<TrainParam>& params() const { return params_; }

 private:
  std::deque<TrainParam> params_;  // a deque: references stay valid as parameters are added
  std::map<std::string, size_t> index_;
};

// A weight as the training code reads it: the trainable copy when there is one (its gradient is
// accumulated), else the checkpoint's frozen view, widened to f32 on first use and cached.
class WeightRef {
 public:
  WeightRef() = default;
  WeightRef(ParamSet& params, const WeightStore& weights, const std::string& name);
  WeightRef(const WeightRef&) = delete;  // data_ may point into frozen_
  WeightRef& operator=(const WeightRef&) = delete;
  WeightRef(WeightRef&&) = default;  // a moved vector keeps its buffer, so data_ stays valid
  WeightRef& operator=(WeightRef&&) = default;
  const float* data() const { return data_; }
  float* grad() const { return grad_; }  // nullptr for a frozen weight
  const Shape& shape() const { return shape_; }

 private:
  const float* data_ = nullptr;
  float* grad_ = nullptr;
  Shape shape_;
  std::vector<float> frozen_;  // the widened frozen copy
};

}  // namespace dsvl
