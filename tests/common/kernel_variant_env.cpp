// Lets a whole test binary run on one of the SIMDe-emulated kernel variants: with
// DSVL_TEST_KERNEL_VARIANT=avx512emu or avx512bf16emu every kernel call goes to that variant, so the
// fixture tests check the AVX-512 / AVX512-BF16 numerics end to end on CPUs without AVX-512;
// avx512bf16emu runs it with f32 activations and avx512bf16emu_bf16act with bf16 activations (isa.h:
// the default on Zen 4/5), whatever this CPU's own default.
// Unset: the CPU's own variant, as always.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "emulated_variants.h"
#include "kernels/isa.h"

namespace dsvl::kernels::test {
namespace {

class KernelVariantEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* v = std::getenv("DSVL_TEST_KERNEL_VARIANT");
    if (!v || !*v) return;
    if (std::strcmp(v, "avx512emu") == 0) simd::SetVariantOverrideForTesting(&simd::EmulatedAvx512Variant());
    else if (std::strcmp(v, "avx512bf16emu") == 0) {
      // The f32-activation numerics, whatever this CPU's default.
      simd::SetVariantOverrideForTesting(&simd::EmulatedAvx512Bf16Variant());
      SetBf16Activations(false);
    } else if (std::strcmp(v, "avx512bf16emu_bf16act") == 0) {
      simd::SetVariantOverrideForTesting(&simd::EmulatedAvx512Bf16Variant());
      SetBf16Activations(true);
    } else
      FAIL() << "DSVL_TEST_KERNEL_VARIANT=" << v << ": expected avx512emu, avx512bf16emu or avx512bf16emu_bf16act";
    std::fprintf(stderr, "kernels: every call goes to the emulated %s variant\n", v);
  }
  void TearDown() override {
    simd::SetVariantOverrideForTesting(nullptr);
    SetBf16Activations(saved_bf16_activations_);
  }

 private:
  bool saved_bf16_activations_ = Bf16ActivationsEnabled();
};

[[maybe_unused]] ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new KernelVariantEnvironment);

}  // namespace
}  // namespace dsvl::kernels::test
