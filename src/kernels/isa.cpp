#include "kernels/isa.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dsvl/error.h"

namespace dsvl::kernels {
namespace {

// CPUID leaf 1, ECX bit 29. Read directly: clang before 16 rejects __builtin_cpu_supports("f16c").
bool CpuHasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

bool CpuHas(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CpuHasF16c();
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

// -1: no override on this thread; 0 / 1: off / on.
static thread_local int t_bf16_activations_override = -1;

bool Bf16ActivationsEnabled() {
  if (t_bf16_activations_override >= 0) return t_bf16_activations_override == 1;
  return Bf16Activations().load(std::memory_order_relaxed);
}
ScopedBf16Activations::ScopedBf16Activations(bool on) : saved_(t_bf16_activations_override) {
  t_bf16_activations_override = on ? 1 : 0;
}
ScopedBf16Activations::~ScopedBf16Activations() { t_bf16_activations_override = saved_; }
void SetBf16Activations(bool on) { Bf16Activations().store(on, std::memory_order_relaxed); }

bool PreferBf16Dot() {
  static const bool prefer = CpuHas(Isa::kAvx512Bf16) && __builtin_cpu_is("amd");
  return prefer;
}

}  // namespace dsvl::kernels
