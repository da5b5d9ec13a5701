// Chooses the implementation of each SIMD-accelerated kernel for this CPU.
#include "kernels/ops.h"
#include "kernels/reference.h"

namespace dsvl::kernels {

void Linear(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
            const TensorView* bias, float* y, int64_t ldx, int64_t ldy) {
  ref::Linear(pool, x, M, K, w, bias, y, ldx, ldy);
}

void GemmNT(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta) {
  ref::GemmNT(pool, M, N, K, A, lda, B, ldb, C, ldc, alpha, beta);
}

void Attention(ThreadPool& pool, const AttentionArgs& a) { ref::Attention(pool, a); }

}  // namespace dsvl::kernels
