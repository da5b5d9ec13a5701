// A hook that long computations (the vision towers) call between units of work (a transformer
// block, a neck, a conv), so that whoever lent them the pool and scratch can let someone else use
// them for a moment: the engine hands the model to queued decode steps there
// (StepScheduler::YieldModel), so other conversations' token streams stall for one unit of an image
// encode instead of all of it. A default YieldFn does nothing, so tests and tools that run a tower
// directly see no change; the computation itself is never reordered, so results are unchanged.
#pragma once

namespace dsvl {

// Non-owning, two pointers, passed by value: the callable must outlive every call.
class YieldFn {
 public:
  YieldFn() = default;
  template <typename F>
  explicit YieldFn(F& f)
      : obj_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o) { (*static_cast<F*>(o))(); }) {}

  void operator()() const {
    if (call_) call_(obj_);
  }

 private:
  void* obj_ = nullptr;
  void (*call_)(void*) = nullptr;
};

}  // namespace dsvl
