#include "train/lm_head_loss.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"
#include "train/grad_ops.h"

namespace dsvl::train {

double LmHeadLoss(ThreadPool& pool, const float* h, int64_t T, int64_t d, int64_t vocab, const Targets& targets,
                  const WeightRef& final_norm, const WeightRef& lm_head, float eps, float loss_scale, float* dh) {
  const int64_t R = static_cast<int64_t>(targets.rows.size());
  if (targets.labels.size() != targets.rows.size())
    Throw(ErrorCode::kInvalidArgument, "training: target rows and labels differ in count");
  std::vector<float> rows_x(static_cast<size_t>(R * d)), rows_n(rows_x.size()), rows_rstd(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = targets.rows[static_cast<size_t>(r)];
    const int64_t y = targets.labels[static_cast<size_t>(r)];
    if (t < 0 || t >= T || y < 0 || y >= vocab)
      Throw(ErrorCode::kInvalidArgument, "training: target row " + std::to_string(t) + " / label " +
                                             std::to_string(y) + " out of range");
    std::copy_n(h + t * d, d, rows_x.data() + r * d);
  }
  RmsNormForward(rows_x.data(), R, d, final_norm.data(), eps, rows_n.data(), rows_rstd.data());
  std::vector<float> logits(static_cast<size_t>(R * vocab)), dlogits(dh ? logits.size() : 0);
  LinearForward(pool, rows_n.data(), R, d, lm_head.view(), vocab, nullptr, logits.data());
  const double loss = CrossEntropy(logits.data(), R, vocab, targets.labels.data(), loss_scale,
                                   dh ? dlogits.data() : nullptr);
  if (!dh) return loss;
  std::vector<float> drows_n(static_cast<size_t>(R * d), 0.0f), drows_x(drows_n.size(), 0.0f);
  LinearBackward(pool, rows_n.data(), R, d, lm_head.view(), vocab, dlogits.data(), drows_n.data(), lm_head.grad(),
                 nullptr);
  RmsNormBackward(rows_x.data(), R, d, final_norm.data(), rows_rstd.data(), drows_n.data(), drows_x.data(),
                  final_norm.grad());
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = targets.rows[static_cast<size_t>(r)];
    for (int64_t i = 0; i < d; ++i) dh[t * d + i] += drows_x[static_cast<size_t>(r * d + i)];
  }
  return loss;
}

Targets ShiftedTargets(const std::vector<int64_t>& labels, int64_t ignore) {
  Targets t;
  for (size_t i = 1; i < labels.size(); ++i)
    if (labels[i] != ignore) {
      t.rows.push_back(static_cast<int64_t>(i) - 1);
      t.labels.push_back(labels[i]);
    }
  return t;
}

}  // namespace dsvl::train
