#include "kernels/isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dsvl/error.h"

namespace dsvl::kernels {
namespace {

bool CpuHas(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512:
      return CpuHas(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq");
    case Isa::kAvx512Bf16:
      // VNNI too: the variant's quantised GEMV uses it (every AVX512-BF16 CPU has it).
      return CpuHas(Isa::kAvx512) && __builtin_cpu_supports("avx512bf16") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

Isa ParseIsa(const char* s) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Bf16})
    if (std::strcmp(s, IsaName(isa)) == 0) return isa;
  Throw(ErrorCode::kInvalidArgument,
        ErrorContext{"DSVL_ISA", "", "scalar|avx2|avx512|avx512bf16", s, ""});
}

Isa InitialIsa() {
  if (const char* env = std::getenv("DSVL_ISA"); env && *env) {
    Isa isa = ParseIsa(env);
    if (!CpuHas(isa))
      Throw(ErrorCode::kUnsupported, std::string("DSVL_ISA=") + env + ": this CPU lacks it");
    return isa;
  }
  return DetectedIsa();
}

std::atomic<Isa>& Active() {
  static std::atomic<Isa> active{InitialIsa()};
  return active;
}

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Bf16: return "avx512bf16";
  }
  return "?";
}

bool IsaSupported(Isa isa) { return CpuHas(isa); }

Isa DetectedIsa() {
  static const Isa best = [] {
    if (CpuHas(Isa::kAvx512Bf16) && PreferBf16Dot()) return Isa::kAvx512Bf16;
    for (Isa isa : {Isa::kAvx512, Isa::kAvx2})
      if (CpuHas(isa)) return isa;
    return Isa::kScalar;
  }();
  return best;
}

Isa ActiveIsa() { return Active().load(std::memory_order_relaxed); }

void SetActiveIsa(Isa isa) {
  if (!CpuHas(isa)) Throw(ErrorCode::kUnsupported, std::string("ISA ") + IsaName(isa) + " not supported by this CPU");
  Active().store(isa, std::memory_order_relaxed);
}

namespace {
std::atomic<bool>& Bf16Activations() {
  static std::atomic<bool> on{[] {
    const char* e = std::getenv("DSVL_BF16_ACTIVATIONS");
    return e && std::strcmp(e, "1") == 0;
  }()};
  return on;
}
}  // namespace

bool Bf16ActivationsEnabled() { return Bf16Activations().load(std::memory_order_relaxed); }
void SetBf16Activations(bool on) { Bf16Activations().store(on, std::memory_order_relaxed); }

bool PreferBf16Dot() {
  static const bool prefer = CpuHas(Isa::kAvx512Bf16) && __builtin_cpu_is("amd");
  return prefer;
}

}  // namespace dsvl::kernels
