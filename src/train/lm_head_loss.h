// The top of the decoder trainer: the final RMSNorm and lm_head on the target rows only (the
// others never reach the loss), the summed cross-entropy, and the backward to the residual stream.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "train/param_set.h"

namespace dsvl::train {

// Where the loss is taken: logits row `rows[i]` is trained to predict `labels[i]` (for unshifted
// labels, row t-1 predicts labels[t]).
struct Targets {
  std::vector<int64_t> rows;
  std::vector<int64_t> labels;
};

// The targets of a labelled sequence as the official (HF) loss shifts it: row t-1 predicts labels[t]
// for every t >= 1 whose label is not `ignore` (-100, PyTorch's ignore_index).
Targets ShiftedTargets(const std::vector<int64_t>& labels, int64_t ignore = -100);

// h[T, d]: the last layer's output. Returns Σ CE over the targets; when dh is not null, accumulates
// into it the gradient of loss_scale · Σ CE (nonzero only at target rows) and into the final norm's
// and lm_head's gradients (when trainable). Throws kInvalidArgument on a target outside [0, T) or
// a label outside the vocabulary.
double LmHeadLoss(ThreadPool& pool, const float* h, int64_t T, int64_t d, int64_t vocab, const Targets& targets,
                  const WeightRef& final_norm, const WeightRef& lm_head, float eps, float loss_scale, float* dh);

}  // namespace dsvl::train
