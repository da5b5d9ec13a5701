// Runs several independent Linear calls as ONE parallel region. Decode issues many small GEMVs
// (q/k/v, every routed expert's gate/up/down, the shared experts): as separate kernels::Linear
// calls each pays a thread-pool wake-up and a barrier, and each is too small to keep both cores
// busy. Here every call's weight rows are cut into slices, all slices of all calls go into one task
// list, and each task runs its slice with the single-threaded kernel on whichever thread takes it.
// An output element is still one kernel dot product over the whole K, computed exactly as the
// kernel computes it, so the results equal the separate calls. Only GEMV-sized calls (M <= 4) are
// sliced; larger ones run as plain kernels::Linear calls, whose GEMM already splits well.
//
// Batched decoding of several sequences (AddRows) must give each sequence's rows bitwise what they
// get alone, and the kernels' summation order depends on M only beyond kernels::kRowInvariantMaxM
// (up to 4 rows, the GEMV does the same arithmetic per output whatever M; larger M runs the
// blocked GEMM). So adjacent small ranges (decode rows) share calls of up to 4 rows, and a larger
// range (a prefill chunk) gets a call of its own, exactly as when its sequence runs alone.
// Consecutive small calls on the same weight share its slices: a task runs every one of them on
// its slice of weight rows (~256 KiB, L2-resident) before moving on, so the weight is streamed from
// memory once per Run for all sequences.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace dsvl {

// A sequence's rows in a stack of several sequences' rows: [begin, begin + count).
struct RowRange {
  int64_t begin = 0, count = 0;
};
// Rows in a stack of ranges laid out back to back (the last range's end).
inline int64_t TotalRows(std::span<const RowRange> seqs) {
  return seqs.empty() ? 0 : seqs.back().begin + seqs.back().count;
}

class LinearBatch {
 public:
  // Queues y[M, N] = x[M, K] · w[N, K]ᵀ (no bias); ldx / ldy as kernels::Linear (0 = packed).
  // Pointers must stay valid until Run.
  void Add(const float* x, int64_t M, int64_t K, const TensorView& w, float* y, int64_t ldx = 0, int64_t ldy = 0);
  // Queues the same product for every range of stacked rows (adjacent ranges of <= 4 rows merged
  // into calls of <= 4 rows), so each sequence's rows come out bitwise as a call over that
  // sequence alone would give them.
  void AddRows(const float* x, std::span<const RowRange> seqs, int64_t K, const TensorView& w, float* y,
               int64_t ldx = 0, int64_t ldy = 0);

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
  // Weight rows [row_begin, row_end) of calls [call, call_end), which share one weight.
  struct Slice {
    int32_t call, call_end;
    int64_t row_begin, row_end;
  };
  std::vector<Call> calls_;
  std::vector<Slice> slices_;
};

}  // namespace dsvl
