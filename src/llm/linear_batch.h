// Runs several independent Linear calls as ONE parallel region. Decode issues many small GEMVs
// (q/k/v, every routed expert's gate/up/down, the shared experts): as separate kernels::Linear
// calls each pays a thread-pool wake-up and a barrier, and each is too small to keep both cores
// busy. Here every call's weight rows are cut into slices, all slices of all calls go into one task
// list, and each task runs its slice with the single-threaded kernel on whichever thread takes it.
// An output element is still one kernel dot product over the whole K, computed exactly as the
// kernel computes it, so the results equal the separate calls. Only GEMV-sized calls (M <= 4) are
// sliced; larger ones run as plain kernels::Linear calls, whose GEMM already splits well.
#pragma once

#include <cstdint>
#include <vector>

#include "dsvl/tensor.h"
#include "dsvl/thread_pool.h"

namespace dsvl {

class LinearBatch {
 public:
  // Queues y[M, N] = x[M, K] · w[N, K]ᵀ (no bias); ldx / ldy as kernels::Linear (0 = packed).
  // Pointers must stay valid until Run.
  void Add(const float* x, int64_t M, int64_t K, const TensorView& w, float* y, int64_t ldx = 0, int64_t ldy = 0);

  // Runs everything queued since the last Run, then empties the queue (capacity is kept, so
  // steady-state decode allocates nothing).
  void Run(ThreadPool& pool);

 private:
  struct Call {
    const float* x;
    int64_t M, K;
    TensorView w;
    float* y;
    int64_t ldx, ldy;
  };
  struct Slice {
    int32_t call;
    int64_t row_begin, row_end;
  };
  std::vector<Call> calls_;
  std::vector<Slice> slices_;
};

}  // namespace dsvl
