#include "train/adamw.h"

#include <cmath>

namespace dsvl::train {

void AdamWStep(ParamSet& params, const AdamWOptions& o, int64_t step) {
  const float decay = static_cast<float>(1.0 - o.lr * o.weight_decay);
  // torch casts each Python scalar (1 - beta, lr / bc1, ...) to float once: so do we.
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  const float one_b1 = static_cast<float>(1.0 - o.beta1), one_b2 = static_cast<float>(1.0 - o.beta2);
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  const float step_size = static_cast<float>(o.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float eps = static_cast<float>(o.eps);
  for (TrainParam& p : params.params()) {
    if (p.adam_m.empty()) {
      p.adam_m.assign(p.value.size(), 0.0f);
      p.adam_v.assign(p.value.size(), 0.0f);
    }
    for (size_t i = 0; i < p.value.size(); ++i) {
      const float g = p.grad[i];
      p.value[i] *= decay;
      p.adam_m[i] = p.adam_m[i] * b1 + one_b1 * g;  // torch: m.mul_(b1).add_(g, alpha=1-b1)
      p.adam_v[i] = p.adam_v[i] * b2 + one_b2 * g * g;  // v.mul_(b2).addcmul_(g, g, value=1-b2)
      const float denom = std::sqrt(p.adam_v[i]) / bc2_sqrt + eps;
      p.value[i] += (-step_size * p.adam_m[i]) / denom;  // addcdiv: value * m / denom
    }
  }
}

}  // namespace dsvl::train
