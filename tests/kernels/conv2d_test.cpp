// Conv2d (im2col + Linear lowering) against the direct-loop reference, for the convolutions the
// models use: patch embeddings (kernel == stride), 1x1 and 3x3 with padding, strided 3x3.
// Tolerance as for Linear: 1e-5 · Σ|x·w| per output (the reference run on |x|, |w|), since the
// lowering only changes the f32 summation order.
#include <gtest/gtest.h>

#include <vector>

#include "dsvl/error.h"
#include "core/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "kernels/reference.h"

namespace dsvl::kernels::test {
namespace {

class Conv2dTest : public PerIsaTest {};

void RunConv(Variant variant, const Conv2dArgs& a, DType wt, bool with_bias, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "C=" << a.C << " H=" << a.H << " W=" << a.W << " O=" << a.O << " k="
                                  << a.kh << "x" << a.kw << " s=" << a.stride << " p=" << a.pad);
  ThreadPool pool(2);
  const int64_t Ho = ConvOutSize(a.H, a.kh, a.stride, a.pad), Wo = ConvOutSize(a.W, a.kw, a.stride, a.pad);
  std::vector<float> in = RandomVec(static_cast<size_t>(a.C * a.H * a.W), seed);
  Weights w(wt, Shape{a.O, a.C, a.kh, a.kw}, seed + 1);
  Weights b(DType::kF32, Shape{a.O}, seed + 2);
  const TensorView bias = b.view(), abs_bias = b.abs_view();
  std::vector<float> out(static_cast<size_t>(a.O * Ho * Wo)), want(out.size()), bound(out.size());
  Conv2d(pool, in.data(), a, w.view(), with_bias ? &bias : nullptr, out.data());
  // The lowering is a Linear of [Ho*Wo, C*kh*kw] patches (zero padding is exact in bf16).
  if (RoundsActivations(variant, wt)) in = RoundedToBf16(in);
  ref::Conv2d(pool, in.data(), a, w.view(), with_bias ? &bias : nullptr, want.data());
  std::vector<float> ain = Abs(in);
  ref::Conv2d(pool, ain.data(), a, w.abs_view(), with_bias ? &abs_bias : nullptr, bound.data());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5 * bound[i] + 1e-30) << "i=" << i;
}

TEST_P(Conv2dTest, PatchEmbed) {
  RunConv(GetParam(), {3, 28, 42, 20, 14, 14, 14, 0}, DType::kBF16, true, 1);
  RunConv(GetParam(), {3, 32, 48, 9, 16, 16, 16, 0}, DType::kF32, true, 2);
}

TEST_P(Conv2dTest, OneByOneAndThreeByThree) {
  RunConv(GetParam(), {13, 9, 11, 7, 1, 1, 1, 0}, DType::kBF16, false, 3);
  RunConv(GetParam(), {5, 10, 9, 6, 3, 3, 1, 1}, DType::kF16, true, 4);
  RunConv(GetParam(), {6, 11, 12, 17, 3, 3, 2, 1}, DType::kBF16, false, 5);
}

TEST_P(Conv2dTest, RejectsWrongWeightSize) {
  ThreadPool pool(1);
  std::vector<float> in(3 * 4 * 4), w(10), out(64);
  EXPECT_THROW(Conv2d(pool, in.data(), {3, 4, 4, 2, 2, 2, 2, 0}, TensorView(DType::kF32, Shape{10}, w.data()),
                      nullptr, out.data()),
               Error);
}

DSVL_INSTANTIATE_PER_ISA(Conv2dTest);

}  // namespace
}  // namespace dsvl::kernels::test
