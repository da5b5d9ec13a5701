// AdamW as torch.optim.AdamW (decoupled weight decay applied first; bias corrections with the
// step's scalars computed in double, applied to f32 tensors), over every parameter of a ParamSet.
#pragma once

#include <cstdint>

#include "train/param_set.h"

namespace dsvl::train {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

// Step number `step` (1-based) with each parameter's current gradient.
void AdamWStep(ParamSet& params, const AdamWOptions& o, int64_t step);

}  // namespace dsvl::train
