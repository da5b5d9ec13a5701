// Test-only kernel variants: the AVX-512 / AVX512-BF16 kernels from their real sources, with the
// AVX-512 instructions emulated by SIMDe (emulated_avx512_variants.cpp). They run wherever AVX2
// does; the tests install them with simd::SetVariantOverrideForTesting.
#pragma once

#include "kernels/simd.h"

namespace dsvl::kernels::simd {

const Variant& EmulatedAvx512Variant();
const Variant& EmulatedAvx512Bf16Variant();

}  // namespace dsvl::kernels::simd
