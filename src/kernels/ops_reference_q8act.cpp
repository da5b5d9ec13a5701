// Scalar reference for the quantised-weight GEMV's activation quantisation (quant_act_avx2.h): the
// same float operations per block, so the SIMD code reproduces q and d exactly.
#include <cmath>
#include <vector>

#include "dsvl/error.h"
#include "kernels/reference.h"

namespace dsvl::kernels::ref {

void RoundTripQ8Activations(const float* x, int64_t n, float* out) {
  DSVL_CHECK(n % 32 == 0, "RoundTripQ8Activations: n=" + std::to_string(n) + " not a multiple of 32");
  for (int64_t b = 0; b < n; b += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[b + i]));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const float d = amax / 127.0f;
    for (int i = 0; i < 32; ++i) out[b + i] = d * std::nearbyint(x[b + i] * inv);
  }
}

void LinearQ8Act(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
                 const TensorView* bias, float* y, int64_t ldx, int64_t ldy) {
  if (ldx == 0) ldx = K;
  std::vector<float> xq(static_cast<size_t>(M * K));
  for (int64_t m = 0; m < M; ++m) RoundTripQ8Activations(x + m * ldx, K, xq.data() + m * K);
  Linear(pool, xq.data(), M, K, w, bias, y, K, ldy);
}

}  // namespace dsvl::kernels::ref
