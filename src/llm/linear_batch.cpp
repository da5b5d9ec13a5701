#include "llm/linear_batch.h"

#include <algorithm>
#include <string>

#include "dsvl/error.h"
#include "kernels/ops.h"

namespace dsvl {
namespace {

// A pool without workers: Run and ParallelFor execute inline on the calling thread and touch no
// shared state, so every pool thread may use this one object at the same time.
ThreadPool& InlinePool() {
  static ThreadPool pool(1);
  return pool;
}

// Weight rows per slice in the GEMV regime (M <= kMaxSlicedRows, memory-bound): about 256 KiB of
// weights, the grain the GEMV kernel itself uses, so that a task's streaming outweighs handing it
// out.
constexpr int64_t kMaxSlicedRows = 4;
// A multiple of 8 rows, so that interleaved quantised weights (groups of 8 rows) slice cleanly.
int64_t SliceRows(int64_t K, DType dtype) {
  const int64_t row_bytes = std::max<int64_t>(1, static_cast<int64_t>(DTypeBytes(dtype, K)));
  return std::max<int64_t>(8, ((int64_t{256} << 10) / row_bytes + 7) / 8 * 8);
}

}  // namespace

void LinearBatch::Add(const float* x, int64_t M, int64_t K, const TensorView& w, float* y, int64_t ldx,
                      int64_t ldy) {
  if (M <= 0) return;
  // Checked here: a kernel error thrown inside a pool task could not reach the caller.
  if (w.shape.rank != 2 || w.cols() != K) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"LinearBatch weight", "shape", "[N, " + std::to_string(K) + "]", w.shape.ToString(), ""});
  }
  if (w.dtype != DType::kF32 && w.dtype != DType::kBF16 && w.dtype != DType::kF16 && !IsQuantized(w.dtype) &&
      !IsInterleavedQuant(w.dtype)) {
    Throw(ErrorCode::kUnsupported,
          ErrorContext{"LinearBatch weight", "dtype", "F32, BF16, F16 or a block type", DTypeName(w.dtype), ""});
  }
  calls_.push_back(Call{x, M, K, w, y, ldx ? ldx : K, ldy ? ldy : w.rows()});
}

void LinearBatch::AddRows(const float* x, std::span<const RowRange> seqs, int64_t K, const TensorView& w, float* y,
                          int64_t ldx, int64_t ldy) {
  const int64_t sx = ldx ? ldx : K, sy = ldy ? ldy : w.rows();
  // Adjacent small ranges (decode rows, short chunks) share a call of up to kRowInvariantMaxM rows:
  // such a call gives each row what a call over its own range gives (kernels::Linear's guarantee).
  // A larger range runs alone, as it would alone (the GEMM's order depends on its M).
  constexpr int64_t kMaxM = kernels::kRowInvariantMaxM;
  for (size_t i = 0; i < seqs.size();) {
    int64_t begin = seqs[i].begin, count = seqs[i].count;
    size_t j = i + 1;
    if (count <= kMaxM)
      while (j < seqs.size() && seqs[j].begin == begin + count && seqs[j].count <= kMaxM && count + seqs[j].count <= kMaxM)
        count += seqs[j++].count;
    Add(x + begin * sx, count, K, w, y + begin * sy, ldx, ldy);
    i = j;
  }
}

namespace {
bool SameWeight(const TensorView& a, const TensorView& b) {
  return a.data == b.data && a.dtype == b.dtype && a.shape == b.shape;
}
}  // namespace

void LinearBatch::Run(ThreadPool& pool) {
  // Calls with more rows (prefill) are compute-bound GEMMs big enough to split well by themselves:
  // they keep the kernel's own parallel split, one after another. The GEMV-sized rest (all of
  // decode; rarely picked experts in prefill) go out as slices in one region.
  // The queue is emptied even if a call throws, so no stale pointers survive into the next Run.
  struct ClearOnExit {
    std::vector<Call>& calls;
    ~ClearOnExit() { calls.clear(); }
  } clear_on_exit{calls_};
  slices_.clear();
  for (size_t c = 0; c < calls_.size();) {
    const Call& call = calls_[c];
    if (call.M > kMaxSlicedRows) {
      kernels::Linear(pool, call.x, call.M, call.K, call.w, nullptr, call.y, call.ldx, call.ldy);
      ++c;
      continue;
    }
    // The run of GEMV-sized calls on this same weight (one per sequence in batched decode).
    size_t end = c + 1;
    while (end < calls_.size() && calls_[end].M <= kMaxSlicedRows && SameWeight(calls_[end].w, call.w)) ++end;
    if (end == c + 1 && pool.size() == 1) {
      kernels::Linear(pool, call.x, call.M, call.K, call.w, nullptr, call.y, call.ldx, call.ldy);
    } else {
      const int64_t N = call.w.rows(), step = SliceRows(call.K, call.w.dtype);
      for (int64_t r = 0; r < N; r += step)
        slices_.push_back(Slice{static_cast<int32_t>(c), static_cast<int32_t>(end), r, std::min(N, r + step)});
    }
    c = end;
  }
  if (slices_.size() == 1 && slices_[0].call_end == slices_[0].call + 1) {
    const Call& c = calls_[static_cast<size_t>(slices_[0].call)];
    kernels::Linear(pool, c.x, c.M, c.K, c.w, nullptr, c.y, c.ldx, c.ldy);
  } else if (!slices_.empty()) {
    pool.Run(static_cast<int64_t>(slices_.size()), [&](int64_t t, int) {
      const Slice& s = slices_[static_cast<size_t>(t)];
      for (int32_t i = s.call; i < s.call_end; ++i) {
        const Call& c = calls_[static_cast<size_t>(i)];
        kernels::Linear(InlinePool(), c.x, c.M, c.K, c.w.Slice0(s.row_begin, s.row_end), nullptr, c.y + s.row_begin,
                        c.ldx, c.ldy);
      }
    });
  }
}

}  // namespace dsvl
