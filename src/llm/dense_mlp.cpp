#include "llm/dense_mlp.h"

#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {

DenseMlp::DenseMlp(const WeightStore& weights, const std::string& prefix, int64_t hidden, int64_t intermediate)
    : hidden_(hidden),
      intermediate_(intermediate),
      gate_(weights.Get(prefix + "gate_proj.weight", Shape{intermediate, hidden})),
      up_(weights.Get(prefix + "up_proj.weight", Shape{intermediate, hidden})),
      down_(weights.Get(prefix + "down_proj.weight", Shape{hidden, intermediate})) {}

void DenseMlp::Forward(ThreadPool& pool, const float* x, std::span<const RowRange> seqs, float* out,
                       float* gate_buf, float* up_buf, LinearBatch& batch) const {
  const int64_t T = TotalRows(seqs);
  if (T == 0) return;
  batch.AddRows(x, seqs, hidden_, gate_, gate_buf);
  batch.AddRows(x, seqs, hidden_, up_, up_buf);
  batch.Run(pool);
  kernels::SwiGlu(pool, gate_buf, up_buf, T * intermediate_);
  batch.AddRows(gate_buf, seqs, intermediate_, down_, out);
  batch.Run(pool);
}

}  // namespace dsvl
