// Shared helpers for the kernel tests: random data, weights in each dtype, and a fixture that runs
// a test once per SIMD variant (skipped when the CPU lacks it) with that variant forced active.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/isa.h"
#include "emulated_variants.h"
#include "kernels/simd.h"

namespace dsvl::kernels::test {

inline std::vector<float> RandomVec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline std::vector<float> Abs(std::vector<float> v) {
  for (auto& x : v) x = std::fabs(x);
  return v;
}

// Weights stored in `dtype`, plus the exact f32 values they represent (so |w| can be formed).
struct Weights {
  DType dtype;
  Shape shape;
  std::vector<float> f32;      // storage for kF32, and the widened values for every dtype
  std::vector<uint16_t> half;  // storage for kBF16 / kF16
  std::vector<float> abs_f32;  // |w|, stored as f32, for error bounds

  Weights(DType t, Shape s, uint32_t seed) : dtype(t), shape(s) {
    f32 = RandomVec(static_cast<size_t>(s.numel()), seed);
    if (t != DType::kF32) {
      half.resize(f32.size());
      for (size_t i = 0; i < f32.size(); ++i) {
        half[i] = t == DType::kBF16 ? F32ToBf16(f32[i]) : F32ToF16(f32[i]);
        f32[i] = t == DType::kBF16 ? Bf16ToF32(half[i]) : F16ToF32(half[i]);
      }
    }
    abs_f32 = Abs(f32);
  }
  TensorView view() const {
    return dtype == DType::kF32 ? TensorView(dtype, shape, f32.data()) : TensorView(dtype, shape, half.data());
  }
  TensorView abs_view() const { return TensorView(DType::kF32, shape, abs_f32.data()); }
};

inline const char* ShortName(DType t) { return DTypeName(t); }

// The variants a test runs against: each ISA (skipped when the CPU lacks it) plus "avx512emu" and
// "avx512bf16emu", the AVX-512 and AVX512-BF16 variants built from their own sources with the
// AVX-512 instructions emulated by SIMDe (emulated_variants.h), which run wherever AVX2 does.

// "..._bf16act" run a variant with Bf16ActivationsEnabled() (isa.h).
enum class Variant {
  kScalar,
  kAvx2,
  kAvx512Emulated,
  kAvx512Bf16Emulated,
  kAvx512Bf16EmulatedBf16Act,
  kAvx512,
  kAvx512Bf16,
  kAvx512Bf16Bf16Act
};

inline bool WithBf16Activations(Variant v) {
  return v == Variant::kAvx512Bf16EmulatedBf16Act || v == Variant::kAvx512Bf16Bf16Act;
}

inline Isa RequiredIsa(Variant v) {
  switch (v) {
    case Variant::kScalar: return Isa::kScalar;
    case Variant::kAvx2:
    case Variant::kAvx512Emulated:
    case Variant::kAvx512Bf16Emulated:
    case Variant::kAvx512Bf16EmulatedBf16Act: return Isa::kAvx2;
    case Variant::kAvx512: return Isa::kAvx512;
    case Variant::kAvx512Bf16:
    case Variant::kAvx512Bf16Bf16Act: return Isa::kAvx512Bf16;
  }
  return Isa::kScalar;
}

// With bf16 activations the AVX512-BF16 variant rounds the activations of every product with bf16
// weights to bf16 (gemm_bf16dot_impl.h, gemv_bf16dot_impl.h). Where that applies, the tests compute
// the reference on the rounded activations, so the same f32 summation-order tolerance holds.
inline bool RoundsActivations(Variant v, DType weights) { return WithBf16Activations(v) && weights == DType::kBF16; }

inline std::vector<float> RoundedToBf16(std::vector<float> v) {
  for (auto& x : v) x = RoundToBf16(x);
  return v;
}

// Runs the test body with GetParam() forced as the active kernel variant; restores the previous
// choice after.
class PerIsaTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    const Isa isa = RequiredIsa(GetParam());
    if (!IsaSupported(isa)) GTEST_SKIP() << IsaName(isa) << " not supported by this CPU";
    saved_ = ActiveIsa();
    SetActiveIsa(isa);
    if (GetParam() == Variant::kAvx512Emulated) simd::SetVariantOverrideForTesting(&simd::EmulatedAvx512Variant());
    if (GetParam() == Variant::kAvx512Bf16Emulated || GetParam() == Variant::kAvx512Bf16EmulatedBf16Act)
      simd::SetVariantOverrideForTesting(&simd::EmulatedAvx512Bf16Variant());
    saved_bf16_activations_ = Bf16ActivationsEnabled();
    SetBf16Activations(WithBf16Activations(GetParam()));
    forced_ = true;
  }
  void TearDown() override {
    if (!forced_) return;
    simd::SetVariantOverrideForTesting(nullptr);
    SetActiveIsa(saved_);
    SetBf16Activations(saved_bf16_activations_);
  }

 private:
  Isa saved_ = Isa::kScalar;
  bool saved_bf16_activations_ = false;
  bool forced_ = false;
};

inline std::string VariantName(const ::testing::TestParamInfo<Variant>& info) {
  if (info.param == Variant::kAvx512Emulated) return "avx512emu";
  if (info.param == Variant::kAvx512Bf16Emulated) return "avx512bf16emu";
  if (info.param == Variant::kAvx512Bf16EmulatedBf16Act) return "avx512bf16emu_bf16act";
  if (info.param == Variant::kAvx512Bf16Bf16Act) return "avx512bf16_bf16act";
  return IsaName(RequiredIsa(info.param));
}

#define DSVL_INSTANTIATE_PER_ISA(Suite)                                                            \
  INSTANTIATE_TEST_SUITE_P(                                                                        \
      AllIsas, Suite,                                                                              \
      ::testing::Values(::dsvl::kernels::test::Variant::kScalar, ::dsvl::kernels::test::Variant::kAvx2, \
                        ::dsvl::kernels::test::Variant::kAvx512Emulated,                           \
                        ::dsvl::kernels::test::Variant::kAvx512Bf16Emulated,                       \
                        ::dsvl::kernels::test::Variant::kAvx512Bf16EmulatedBf16Act,                \
                        ::dsvl::kernels::test::Variant::kAvx512,                                   \
                        ::dsvl::kernels::test::Variant::kAvx512Bf16,                               \
                        ::dsvl::kernels::test::Variant::kAvx512Bf16Bf16Act),                       \
      ::dsvl::kernels::test::VariantName)

}  // namespace dsvl::kernels::test
