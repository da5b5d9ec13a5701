// Lets a whole test binary run on one of the SIMDe-emulated kernel variants: with
// DSVL_TEST_KERNEL_VARIANT=avx512emu or avx512bf16emu every kernel call goes to that variant, so the
// fixture tests check the AVX-512 / AVX512-BF16 numerics end to end on CPUs without AVX-512;
// avx512bf16emu_bf16act also turns on bf16 activations (isa.h) to see what that mode changes.
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
    else if (std::strcmp(v, "avx512bf16emu") == 0)
      simd::SetVariantOverrideForTesting(&simd::EmulatedAvx512Bf16Variant());
    else if (std::strcmp(v, "avx512bf16emu_bf16act") == 0) {
      simd::SetVariantOverrideForTesting(&simd::EmulatedAvx512Bf16Variant());
      SetBf16Activations(true);
    } else
      FAIL() << "DSVL_TEST_KERNEL_VARIANT=" << v << ": expected avx512emu, avx512bf16emu or avx512bf16emu_bf16act";
    std::fprintf(stderr, "kernels: every call goes to the emulated %s variant\n", v);
  }
  void TearDown() override {
    simd::SetVariantOverrideForTesting(nullptr);
    SetBf16Activations(false);
  }
};

[[maybe_unused]] ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new KernelVariantEnvironment);

}  // namespace
}  // namespace dsvl::kernels::test
