// The two halves of a decoder layer as interfaces, and the scratch they share. Attention kinds
// (Llama MHA, DeepseekV2 MLA) and feed-forward kinds (dense SwiGLU, DeepSeekMoE) combine freely;
// a layer is one of each.
//
// Batched decoding of several sequences can be added later by splitting AttentionBlock::Forward
// into its projections (stacked rows of all sequences) and its attention step (per sequence, each
// with its own cache rows); feed-forward blocks already work on any stack of rows.
#pragma once

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/aligned_alloc.h"
#include "dsvl/thread_pool.h"
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
  Workspace() : f32_(16), i32_(8) {}

  float* F32(int slot, int64_t count) { return Grow(f32_, slot, count); }
  int32_t* I32(int slot, int64_t count) { return Grow(i32_, slot, count); }
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
  LinearBatch linears_;
};

// cos/sin [T, rope_dim/2] for the chunk's positions pos0 .. pos0+T-1.
struct RopeRows {
  const float* cos = nullptr;
  const float* sin = nullptr;
};

class AttentionBlock {
 public:
  virtual ~AttentionBlock() = default;
  // xn [T, hidden]: normed inputs at positions pos0 .. pos0+T-1. Writes those tokens' rows of this
  // layer's cache block (rows [0, pos0) already valid) and out [T, hidden] = o_proj(attention).
  virtual void Forward(ThreadPool& pool, const float* xn, int64_t T, int64_t pos0, const RopeRows& rope,
                       const KvLayer& cache, float* out, Workspace& ws) const = 0;
};

class FeedForwardBlock {
 public:
  virtual ~FeedForwardBlock() = default;
  // out[T, hidden] = ffn(xn[T, hidden]).
  virtual void Forward(ThreadPool& pool, const float* xn, int64_t T, float* out, Workspace& ws) const = 0;
};

}  // namespace dsvl
