// SwiGLU feed-forward: down(silu(gate(x)) * up(x)). Used for the dense layers, for every routed
// expert and for the shared experts (one SwiGLU of width moe_intermediate * n_shared). Holds only
// views into the mmapped weights; the caller supplies scratch so that 64+ experts do not each own
// buffers.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "llm/linear_batch.h"

namespace dsvl {

class WeightStore;

class DenseMlp {
 public:
  DenseMlp() = default;
  // Reads <prefix>{gate,up,down}_proj.weight and checks their shapes.
  DenseMlp(const WeightStore& weights, const std::string& prefix, int64_t hidden, int64_t intermediate);

  int64_t intermediate() const { return intermediate_; }
  // The projections, for callers that batch several MLPs into one parallel region (MoE).
  const TensorView& gate() const { return gate_; }
  const TensorView& up() const { return up_; }
  const TensorView& down() const { return down_; }
  // out[T, hidden] = mlp(x[T, hidden]) for the stacked rows of `seqs` (each sequence's products
  // queued separately, see LinearBatch::AddRows); gate_buf and up_buf hold T * intermediate()
  // floats each. gate and up run as one batch (one parallel region).
  void Forward(ThreadPool& pool, const float* x, std::span<const RowRange> seqs, float* out, float* gate_buf,
               float* up_buf, LinearBatch& batch) const;

 private:
  int64_t hidden_ = 0, intermediate_ = 0;
  TensorView gate_, up_, down_;
};

}  // namespace dsvl

#include "llm/blocks.h"

namespace dsvl {

// A dense layer's feed-forward (intermediate_size), as a FeedForwardBlock.
class DenseFeedForward final : public FeedForwardBlock {
 public:
  explicit DenseFeedForward(DenseMlp mlp) : mlp_(std::move(mlp)) {}
  void ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs, float* out,
                    Workspace& ws) const override {
    const int64_t n = TotalRows(seqs) * mlp_.intermediate();
    mlp_.Forward(pool, xn, seqs, out, ws.F32(Workspace::kBlock, n), ws.F32(Workspace::kBlock + 1, n), ws.linears());
  }

 private:
  DenseMlp mlp_;
};

}  // namespace dsvl
