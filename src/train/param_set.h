// The parameters a training run updates: f32 master copies of checkpoint tensors (bf16 checkpoints
// are widened once), each with its gradient and AdamW moments. Frozen tensors are read straight
// from the checkpoint's views (WeightRef) and have no entry here, so only what is trained costs memory.
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

// A weight as the training code reads it: the trainable f32 copy when there is one (its gradient is
// accumulated), else the checkpoint's frozen tensor. Products read a frozen f32/bf16/f16 matrix through
// view(), straight from the mmapped checkpoint, so a frozen model costs no memory beyond the mapping
// (the align stage freezes the whole LLM: 5.4 GB as f32 for the 1.3B, 2.7 GB mapped as bf16).
class WeightRef {
 public:
  WeightRef() = default;
  WeightRef(ParamSet& params, const WeightStore& weights, const std::string& name);
  // The same, after checking the checkpoint's shape as inference does (WeightStore::Get with a shape:
  // kCorruptData naming the file, the tensor, the expected and the actual shape).
  WeightRef(ParamSet& params, const WeightStore& weights, const std::string& name, const Shape& expected);
  WeightRef(const WeightRef&) = delete;  // view_ may point into frozen_
  WeightRef& operator=(const WeightRef&) = delete;
  WeightRef(WeightRef&&) = default;  // a moved vector keeps its buffer, so view_ stays valid
  WeightRef& operator=(WeightRef&&) = default;

  // The weight as products take it: the trainable copy (f32), or the checkpoint's view (a quantised
  // frozen tensor is widened once at construction, as the backward's panels need float rows).
  const TensorView& view() const { return view_; }
  // All elements as f32, for what reads a weight element by element (norms, biases, position
  // embeddings): a frozen bf16/f16 tensor is widened on the first call and cached. Not thread-safe:
  // call it outside parallel regions.
  const float* data() const;
  float* grad() const { return grad_; }  // nullptr for a frozen weight
  const Shape& shape() const { return view_.shape; }

 private:
  TensorView view_;
  float* grad_ = nullptr;
  mutable std::vector<float> frozen_;  // the widened frozen copy, when one was needed
};

}  // namespace dsvl
