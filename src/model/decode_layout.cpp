#include "model/decode_layout.h"

#include "kernels/ops.h"
#include "kernels/quant_formats.h"

namespace dsvl {

// Each tensor gets its own buffer. Measured on the 2-vCPU Zen 3 VM: one shared buffer on
// transparent huge pages neither decoded faster nor loaded faster (the load's cost there is the
// VM's first touch of fresh memory, ~0.8 GB/s, whatever the page size).
RepackSummary RepackForDecode(WeightStore& weights, const std::vector<ExpectedTensor>& manifest, ThreadPool& pool) {
  RepackSummary summary;
  for (const ExpectedTensor& t : manifest) {
    if (t.cls != TensorClass::kLlmLinear && t.cls != TensorClass::kExpert && t.cls != TensorClass::kLmHead) continue;
    const WeightInfo* w = weights.Find(t.name);
    if (!w || w->view.rank() != 2 || !IsQuantized(w->view.dtype)) continue;
    const TensorView src = w->view;
    const DType target = kernels::DecodeLayout(src.dtype, src.rows());
    if (target == src.dtype || !quant::QuantizableRowLength(src.dtype, src.cols())) continue;
    Tensor packed = Tensor::Empty(target, src.shape);
    void* dst = packed.view().data;
    pool.ParallelFor(src.rows() / kInterleavedRows, 16, [&](int64_t g0, int64_t g1) {
      for (int64_t g = g0; g < g1; ++g) quant::InterleaveGroup(src.dtype, src.data, src.cols(), g, dst);
    });
    summary.tensors += 1;
    summary.bytes += static_cast<int64_t>(src.nbytes());
    // Also drops the mapped source's resident pages, or frees the tensor quantised at load.
    weights.Replace(t.name, std::move(packed));
  }
  return summary;
}

}  // namespace dsvl
