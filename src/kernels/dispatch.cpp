// Routes each SIMD-accelerated kernel to the variant for the active ISA (isa.h), or to the scalar
// reference (reference.h) when none applies. Validates arguments and widens small f32 side inputs
// (bias, norm weights) into per-thread scratch so the variants only see f32 + raw weight bytes.
#include <cstdlib>
#include <string>

#include "dsvl/error.h"
#include "kernels/isa.h"
#include "kernels/ops.h"
#include "kernels/quant_formats.h"
#include "kernels/reference.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"

namespace dsvl::kernels {
namespace {

const simd::Variant* g_variant_override = nullptr;

const simd::Variant* ActiveVariant() {
  if (g_variant_override) return g_variant_override;
  switch (ActiveIsa()) {
    case Isa::kAvx2: return &simd::Avx2Variant();
    case Isa::kAvx512: return &simd::Avx512Variant();
    case Isa::kAvx512Bf16: return &simd::Avx512Bf16Variant();
    case Isa::kScalar: break;
  }
  return nullptr;
}

void CheckFloatDType(const TensorView& t, const char* what) {
  if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16)
    Throw(ErrorCode::kUnsupported,
          ErrorContext{what, "dtype", "F32, BF16 or F16", DTypeName(t.dtype), ""});
}

// f32 view of a small vector (bias, norm weight): the data itself if already f32, else widened
// into `scratch`.
const float* AsF32(const TensorView& t, int64_t n, float* scratch) {
  if (t.dtype == DType::kF32) return t.f32();
  ToF32(t, 0, n, scratch);
  return scratch;
}

}  // namespace

void simd::SetVariantOverrideForTesting(const Variant* v) { g_variant_override = v; }

bool HasInterleavedKernels() {
  const simd::Variant* v = ActiveVariant();
  return v && v->interleaved_quant;
}

DType DecodeLayout(DType t, int64_t rows) {
  static const int forced = [] {  // DSVL_INTERLEAVE: 0 never, 1 wherever kernels exist, unset: the default
    const char* e = std::getenv("DSVL_INTERLEAVE");
    return e ? (std::string(e) == "0" ? 0 : 1) : -1;
  }();
  const simd::Variant* v = ActiveVariant();
  if (!v || !v->interleaved_quant || !IsQuantized(t) || rows <= 0 || rows % kInterleavedRows != 0) return t;
  if (forced == 0 || (forced < 0 && !v->interleave_by_default)) return t;
  return InterleavedQuantType(t);
}

void Linear(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& w,
            const TensorView* bias, float* y, int64_t ldx, int64_t ldy) {
  const bool quantized = IsQuantized(w.dtype) || IsInterleavedQuant(w.dtype);
  if (!quantized) CheckFloatDType(w, "Linear weight");
  const int64_t N = w.rows();
  if (w.cols() != K)
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"Linear weight", "shape", "[N, " + std::to_string(K) + "]", w.shape.ToString(), ""});
  if (IsInterleavedQuant(w.dtype) && N % kInterleavedRows != 0)
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"Linear weight", "rows", "a multiple of 8", std::to_string(N), DTypeName(w.dtype)});
  if (quantized && !quant::QuantizableRowLength(w.dtype, K))
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"Linear weight", "cols",
                       "a positive multiple of " + std::to_string(GetDTypeInfo(w.dtype).block_elems),
                       std::to_string(K), DTypeName(w.dtype)});
  const bool has_bias = bias && !bias->empty();
  if (has_bias) {
    CheckFloatDType(*bias, "Linear bias");
    if (bias->numel() != N)
      Throw(ErrorCode::kInvalidArgument,
            ErrorContext{"Linear bias", "numel", std::to_string(N), std::to_string(bias->numel()), ""});
  }
  const simd::Variant* v = ActiveVariant();
  if (!v || (IsInterleavedQuant(w.dtype) && !v->interleaved_quant)) return ref::Linear(pool, x, M, K, w, bias, y, ldx, ldy);
  simd::GemmArgs g;
  g.M = M; g.N = N; g.K = K;
  g.A = x; g.lda = ldx ? ldx : K;
  g.B = simd::MatB{w.data, w.dtype, K, false};  // quantised: K elements = K / block whole blocks
  g.C = y; g.ldc = ldy ? ldy : N;
  if (has_bias) g.bias = AsF32(*bias, N, ThreadScratchAs<float>(ScratchSlot::kBias, static_cast<size_t>(N)));
  g.bf16_activations = w.dtype == DType::kBF16 && Bf16ActivationsEnabled();
  v->gemm(pool, g);
}

void GemmNT(ThreadPool& pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::GemmNT(pool, M, N, K, A, lda, B, ldb, C, ldc, alpha, beta);
  simd::GemmArgs g;
  g.M = M; g.N = N; g.K = K;
  g.A = A; g.lda = lda;
  g.B = simd::MatB{B, DType::kF32, ldb, false};
  g.C = C; g.ldc = ldc;
  g.alpha = alpha; g.beta = beta;
  v->gemm(pool, g);
}

void Attention(ThreadPool& pool, const AttentionArgs& a) {
  if (a.Hkv <= 0 || a.Hq % a.Hkv != 0)
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"Attention", "Hq/Hkv", "Hq a multiple of Hkv",
                       std::to_string(a.Hq) + "/" + std::to_string(a.Hkv), ""});
  if (a.kv_dtype != DType::kF32 && a.kv_dtype != DType::kBF16 && a.kv_dtype != DType::kF16)
    Throw(ErrorCode::kUnsupported,
          ErrorContext{"Attention", "kv_dtype", "f32, bf16 or f16", DTypeName(a.kv_dtype), ""});
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::Attention(pool, a);
  v->attention(pool, a);
}

void RmsNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
             float eps, float* y) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::RmsNorm(pool, x, rows, cols, weight, eps, y);
  CheckFloatDType(weight, "RmsNorm weight");
  const float* w = AsF32(weight, cols, ThreadScratchAs<float>(ScratchSlot::kBias, static_cast<size_t>(cols)));
  pool.ParallelFor(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) v->rows.rms_norm_row(x + r * cols, cols, w, eps, y + r * cols);
  });
}

void LayerNorm(ThreadPool& pool, const float* x, int64_t rows, int64_t cols, const TensorView& weight,
               const TensorView& bias, float eps, float* y) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::LayerNorm(pool, x, rows, cols, weight, bias, eps, y);
  CheckFloatDType(weight, "LayerNorm weight");
  float* scratch = ThreadScratchAs<float>(ScratchSlot::kBias, static_cast<size_t>(2 * cols));
  const float* w = AsF32(weight, cols, scratch);
  const float* b = nullptr;
  if (!bias.empty()) {
    CheckFloatDType(bias, "LayerNorm bias");
    b = AsF32(bias, cols, scratch + cols);
  }
  pool.ParallelFor(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) v->rows.layer_norm_row(x + r * cols, cols, w, b, eps, y + r * cols);
  });
}

void SoftmaxRow(float* x, int64_t n) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::SoftmaxRow(x, n);
  v->rows.softmax(x, n);
}

namespace {
// Elementwise ops are memory-bound; split only when the array is big enough to pay for the wake-up.
constexpr int64_t kElementGrain = 16384;
}  // namespace

void GeluErf(ThreadPool& pool, float* x, int64_t n) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::GeluErf(pool, x, n);
  pool.ParallelFor(n, kElementGrain, [&](int64_t b, int64_t e) { v->rows.gelu_erf(x + b, e - b); });
}
void GeluTanh(ThreadPool& pool, float* x, int64_t n) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::GeluTanh(pool, x, n);
  pool.ParallelFor(n, kElementGrain, [&](int64_t b, int64_t e) { v->rows.gelu_tanh(x + b, e - b); });
}
void Silu(ThreadPool& pool, float* x, int64_t n) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::Silu(pool, x, n);
  pool.ParallelFor(n, kElementGrain, [&](int64_t b, int64_t e) { v->rows.silu(x + b, e - b); });
}
void SwiGlu(ThreadPool& pool, float* gate, const float* up, int64_t n) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::SwiGlu(pool, gate, up, n);
  pool.ParallelFor(n, kElementGrain, [&](int64_t b, int64_t e) { v->rows.swiglu(gate + b, up + b, e - b); });
}
void Add(ThreadPool& pool, float* y, const float* x, int64_t n) {
  const simd::Variant* v = ActiveVariant();
  if (!v) return ref::Add(pool, y, x, n);
  pool.ParallelFor(n, kElementGrain, [&](int64_t b, int64_t e) { v->rows.add(y + b, x + b, e - b); });
}

}  // namespace dsvl::kernels
