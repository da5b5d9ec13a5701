// Repacking of quantised language-model weights into the layout this CPU's decode kernels read
// fastest (kernels::DecodeLayout; docs/quantization.md, "Interleaved layouts"). Done once at load,
// after any quantisation at load and before the model is built.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "io/safetensors.h"
#include "model/tensor_manifest.h"

namespace dsvl {

struct RepackSummary {
  int64_t tensors = 0;  // tensors repacked
  int64_t bytes = 0;    // their bytes (now in memory the store owns instead of the mapped file)
};

// Repacks every quantised attention/MLP projection, expert matrix and lm_head whose layout the
// kernels prefer interleaved. Embeddings (row gathers), MLA's kv_b_proj (re-laid out element-wise),
// router gates and the vision side keep their stored layout.
RepackSummary RepackForDecode(WeightStore& weights, const std::vector<ExpectedTensor>& manifest, ThreadPool& pool);

}  // namespace dsvl
