// The two halves of a decoder layer as interfaces, and the scratch they share. Attention kinds
// (Llama MHA, DeepseekV2 MLA) and feed-forward kinds (dense SwiGLU, DeepSeekMoE) combine freely;
// a layer is one of each.
//
// Both run on the stacked rows of several sequences at once (batched decoding: a decode row or a
// prefill chunk per sequence). Norms, projections and feed-forward see the whole stack (each weight
// is streamed once per pass), but every product is queued per sequence with that sequence's own
// row count (LinearBatch::AddRows), and attention runs per sequence against its own cache, so a
// sequence's results are bitwise what it gets when it runs alone.
#pragma once

#include <cstdint>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/aligned_alloc.h"
#include "core/thread_pool.h"
#include "llm/kv_layer.h"
#include "llm/linear_batch.h"

namespace dsvl {

// Scratch buffers shared by all layers: layers run one after another and a block's buffers are
// dead once its Forward returns, so every block reuses the same slots. A slot only grows (to the
// largest chunk seen), so steady-state prefill and decode allocate nothing.
class Workspace {
 public:
  // Slots used by the layer loop; blocks use kBlock + i.
  enum Slot : int { kHidden, kNormed, kBlockOut, kRopeCos, kRopeSin, kBlock };

  // Room for every slot the blocks use, so that the slot table itself never reallocates while a
  // caller holds a pointer into a slot (a growing slot only moves its own buffer, and only before
  // that caller's pointer is taken).
  Workspace() : f32_(16), i32_(8), ranges_(2) {}

  float* F32(int slot, int64_t count) { return Grow(f32_, slot, count); }
  int32_t* I32(int slot, int64_t count) { return Grow(i32_, slot, count); }
  RowRange* Ranges(int slot, int64_t count) { return Grow(ranges_, slot, count); }
  // Queue for running a block's independent projections as one parallel region.
  LinearBatch& linears() { return linears_; }

 private:
  template <typename T>
  static T* Grow(std::vector<std::vector<T>>& slots, int slot, int64_t count) {
    if (static_cast<size_t>(slot) >= slots.size()) slots.resize(static_cast<size_t>(slot) + 1);
    std::vector<T>& v = slots[static_cast<size_t>(slot)];
    if (count > 0 && v.size() < static_cast<size_t>(count)) {
      // Growth failure is a dsvl error naming the slot and size, not a bad_alloc from the kernels.
      const size_t n = static_cast<size_t>(count);
      if (n > kMaxAllocationBytes / sizeof(T)) ThrowOutOfMemory(SlotName(slot), SIZE_MAX);
      try {
        v.resize(n);
      } catch (const std::bad_alloc&) {
        ThrowOutOfMemory(SlotName(slot), n * sizeof(T));
      } catch (const std::length_error&) {
        ThrowOutOfMemory(SlotName(slot), n * sizeof(T));
      }
    }
    return v.data();
  }
  static std::string SlotName(int slot) { return "layer workspace slot " + std::to_string(slot); }
  std::vector<std::vector<float>> f32_;
  std::vector<std::vector<int32_t>> i32_;
  std::vector<std::vector<RowRange>> ranges_;
  LinearBatch linears_;
};

// cos/sin [T, rope_dim/2], one row per stacked input row, for that row's own position.
struct RopeRows {
  const float* cos = nullptr;
  const float* sin = nullptr;
};

// A sequence's place in a batched pass: its stacked rows sit at positions pos0 .. pos0+count-1 of
// its own cache, whose block for the current layer is `layer` (rows [0, pos0) already valid).
struct SeqCache {
  int64_t pos0 = 0;
  KvLayer layer;
};

class AttentionBlock {
 public:
  virtual ~AttentionBlock() = default;
  // xn [T, hidden]: the normed rows of all sequences, sequence i's at seqs[i] with cache caches[i].
  // Writes each sequence's new rows into its cache block and out [T, hidden] = o_proj(attention).
  virtual void ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs,
                            std::span<const SeqCache> caches, const RopeRows& rope, float* out,
                            Workspace& ws) const = 0;
  // One sequence: xn [T, hidden] at positions pos0 .. pos0+T-1.
  void Forward(ThreadPool& pool, const float* xn, int64_t T, int64_t pos0, const RopeRows& rope,
               const KvLayer& cache, float* out, Workspace& ws) const {
    const RowRange seq{0, T};
    const SeqCache c{pos0, cache};
    ForwardBatch(pool, xn, {&seq, 1}, {&c, 1}, rope, out, ws);
  }
};

class FeedForwardBlock {
 public:
  virtual ~FeedForwardBlock() = default;
  // out[T, hidden] = ffn(xn[T, hidden]) for the stacked rows of the sequences `seqs`.
  virtual void ForwardBatch(ThreadPool& pool, const float* xn, std::span<const RowRange> seqs, float* out,
                            Workspace& ws) const = 0;
  void Forward(ThreadPool& pool, const float* xn, int64_t T, float* out, Workspace& ws) const {
    const RowRange seq{0, T};
    ForwardBatch(pool, xn, {&seq, 1}, out, ws);
  }
};

}  // namespace dsvl
