#include "model/decode_layout.h"

#include "kernels/ops.h"
#include "kernels/quant_formats.h"

namespace dsvl {

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
    const int64_t groups = src.rows() / kInterleavedRows;
    pool.ParallelFor(groups, 16, [&](int64_t g0, int64_t g1) {
      for (int64_t g = g0; g < g1; ++g) quant::InterleaveGroup(src.dtype, src.data, src.cols(), g, packed.view().data);
    });
    summary.tensors += 1;
    summary.bytes += static_cast<int64_t>(src.nbytes());
    weights.Replace(t.name, std::move(packed));  // also drops the mapped source's resident pages
  }
  return summary;
}

}  // namespace dsvl
