// Which SIMD instruction set the kernels use. Detected once from CPUID; tests and benchmarks can
// force a variant (SetActiveIsa) to compare it against the scalar reference, and DSVL_ISA in the
// environment (scalar|avx2|avx512|avx512bf16) overrides the choice for a whole process.
#pragma once

namespace dsvl::kernels {

enum class Isa { kScalar, kAvx2, kAvx512, kAvx512Bf16 };

const char* IsaName(Isa isa);
// True when this CPU (and OS, via the compiler's CPUID checks) can run the variant.
bool IsaSupported(Isa isa);
// The best supported variant, chosen once per process.
Isa DetectedIsa();
// The variant the dispatcher uses now: DSVL_ISA if set, else DetectedIsa(), unless SetActiveIsa
// changed it.
Isa ActiveIsa();
// Test/benchmark hook: route every kernel to `isa`. Throws dsvl::Error if the CPU lacks it. Not
// thread-safe with kernels running concurrently.
void SetActiveIsa(Isa isa);

// Numerics of matrix products with bf16 weights on the AVX512-BF16 variant (others ignore it): with
// bf16 activations on, every such product rounds its activations to bf16 first (as PyTorch does
// for a bf16 checkpoint) and feeds them to vdpbf16ps as one term, for twice the multiply-adds per
// instruction of f32 FMA in the GEMM (vision, prefill) and half the activation work in the GEMV.
// Off, activations stay f32 (exact to 2^-27 in the GEMV, widened weights + f32 FMA in the GEMM)
// and results do not depend on the CPU beyond f32 summation order. docs/numerics.md says where
// each is the default and what the fixtures show of both.
// The process-wide setting is off unless DSVL_BF16_ACTIVATIONS=1 is in the environment at start-up
// or SetBf16Activations(true) is called; a ScopedBf16Activations overrides it for the calling thread
// (kernels read it on the thread that calls them, before their parallel region starts).
bool Bf16ActivationsEnabled();
void SetBf16Activations(bool on);
class ScopedBf16Activations {
 public:
  explicit ScopedBf16Activations(bool on);
  ~ScopedBf16Activations();
  ScopedBf16Activations(const ScopedBf16Activations&) = delete;
  ScopedBf16Activations& operator=(const ScopedBf16Activations&) = delete;

 private:
  int saved_;
};

// The AVX512-BF16 variant is the AVX-512 one plus a GEMV that feeds bf16 weights straight to
// vdpbf16ps (activations split into three bf16 terms so the result keeps f32 accuracy), and with
// Bf16ActivationsEnabled() a bf16-dot GEMM.
// Documented rule, not a measurement: DetectedIsa() picks it only where vdpbf16ps runs at the full
// FP32 FMA rate (AMD Zen 4/5); on Intel (Sapphire/Emerald Rapids) it runs at about half rate, so
// there the plain AVX-512 variant (widen bf16 to f32 + FMA) is chosen. With f32 activations the
// GEMM widens bf16 panels and uses FP32 FMA in every variant: with the 3-term split vdpbf16ps does
// no more useful work per instruction than an FMA, so it cannot win there.
bool PreferBf16Dot();

}  // namespace dsvl::kernels
