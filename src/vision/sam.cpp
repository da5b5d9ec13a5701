#include "vision/sam.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "kernels/ops.h"

namespace dsvl {

namespace {

// sam.py hard-codes F.interpolate(size=(96, 96)) between the neck and the downsample convs.
constexpr int64_t kUpsampleSide = 96;
// LayerNorm2d's default eps (the neck never passes another).
constexpr float kLayerNorm2dEps = 1e-6f;
// Query rows per attention step: bounds the score buffer at kQueryRows x 4096 floats (8 MB) for the
// 64x64 global blocks while keeping each GEMM large enough for the pool.
constexpr int64_t kQueryRows = 512;

// dst[c, r] = src[r, c] for a [rows, cols] matrix.
void Transpose(ThreadPool& pool, const float* src, int64_t rows, int64_t cols, float* dst) {
  pool.ParallelFor(cols, 8, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = 0; r < rows; ++r) dst[c * rows + r] = src[r * cols + c];
  });
}

}  // namespace

struct SamEncoder::Buffers {
  Tensor x, h, qkv, attn, mlp, global_feature;
  Tensor neck_tokens, neck_chw, neck_conv;  // neck intermediates
  // One (window, head) of attention: gathered q, k, transposed v, output, and the score matrix.
  Tensor q_win, k_win, vt_win, o_win, scores;
  Tensor thread_scratch;  // per thread: the rel-pos terms of one query (2 * window floats)
  int64_t thread_stride = 0;
  std::vector<float> qkv_bias;  // f32 qkv bias of the current block: K/V of zero-padded tokens
  std::vector<float> rel_h, rel_w;
};

int64_t SamEncoder::out_side() const {
  const int64_t s = kernels::ConvOutSize(kUpsampleSide, 3, 2, 1);
  return kernels::ConvOutSize(s, 3, 2, 1);
}

SamEncoder::SamEncoder(const SamConfig& config, const WeightStore& weights) : config_(config) {
  const std::string where = config_.prefix + " SAM config";
  auto fail = [&](const char* field, const std::string& expected, int64_t got) {
    Throw(ErrorCode::kCorruptData, ErrorContext{where, field, expected, std::to_string(got), ""});
  };
  if (config_.patch_size <= 0 || config_.image_size <= 0 || config_.image_size % config_.patch_size != 0)
    fail("image_size", "a multiple of patch_size " + std::to_string(config_.patch_size), config_.image_size);
  if (config_.width <= 0 || config_.heads <= 0 || config_.width % config_.heads != 0)
    fail("heads", "a divisor of width " + std::to_string(config_.width), config_.heads);
  if (config_.depth <= 0) fail("depth", "positive", config_.depth);
  if (config_.window_size <= 0) fail("window_size", "positive", config_.window_size);
  if (config_.mlp_hidden <= 0) fail("mlp_hidden", "positive", config_.mlp_hidden);
  if (config_.global_attn_indexes.empty()) fail("global_attn_indexes", "at least one index", 0);
  for (int64_t g : config_.global_attn_indexes)
    if (g < 0 || g >= config_.depth) fail("global_attn_indexes", "in [0, depth)", g);

  const std::string& p = config_.prefix;
  const int64_t C = config_.width, ps = config_.patch_size, G = grid(), F = config_.mlp_hidden;
  const int64_t D = C / config_.heads, Cn = config_.neck_channels;
  const int64_t D1 = config_.downsample_channels[0], D2 = config_.downsample_channels[1];
  patch_w_ = weights.Get(p + "patch_embed.proj.weight", Shape{C, 3, ps, ps});
  patch_b_ = weights.Get(p + "patch_embed.proj.bias", Shape{C});
  pos_embed_ = weights.Get(p + "pos_embed", Shape{1, G, G, C});
  blocks_.resize(static_cast<size_t>(config_.depth));
  for (int64_t l = 0; l < config_.depth; ++l) {
    const std::string b = p + "blocks." + std::to_string(l) + ".";
    Block& blk = blocks_[static_cast<size_t>(l)];
    const bool global = std::find(config_.global_attn_indexes.begin(), config_.global_attn_indexes.end(),
                                  l) != config_.global_attn_indexes.end();
    blk.window = global ? 0 : config_.window_size;
    // Relative-position tables cover 2S-1 offsets for an S x S attention window (no resizing: the
    // official get_rel_pos would interpolate other lengths, which no released checkpoint needs).
    const int64_t S = global ? G : config_.window_size;
    blk.norm1_w = weights.Get(b + "norm1.weight", Shape{C});
    blk.norm1_b = weights.Get(b + "norm1.bias", Shape{C});
    blk.qkv_w = weights.Get(b + "attn.qkv.weight", Shape{3 * C, C});
    blk.qkv_b = weights.Get(b + "attn.qkv.bias", Shape{3 * C});
    blk.proj_w = weights.Get(b + "attn.proj.weight", Shape{C, C});
    blk.proj_b = weights.Get(b + "attn.proj.bias", Shape{C});
    blk.rel_h = weights.Get(b + "attn.rel_pos_h", Shape{2 * S - 1, D});
    blk.rel_w = weights.Get(b + "attn.rel_pos_w", Shape{2 * S - 1, D});
    blk.norm2_w = weights.Get(b + "norm2.weight", Shape{C});
    blk.norm2_b = weights.Get(b + "norm2.bias", Shape{C});
    blk.lin1_w = weights.Get(b + "mlp.lin1.weight", Shape{F, C});
    blk.lin1_b = weights.Get(b + "mlp.lin1.bias", Shape{F});
    blk.lin2_w = weights.Get(b + "mlp.lin2.weight", Shape{C, F});
    blk.lin2_b = weights.Get(b + "mlp.lin2.bias", Shape{C});
  }
  auto load_neck = [&](const std::string& n, Neck& neck) {
    neck.conv1_w = weights.Get(p + n + ".0.weight", Shape{Cn, C, 1, 1});
    neck.ln1_w = weights.Get(p + n + ".1.weight", Shape{Cn});
    neck.ln1_b = weights.Get(p + n + ".1.bias", Shape{Cn});
    neck.conv2_w = weights.Get(p + n + ".2.weight", Shape{Cn, Cn, 3, 3});
    neck.ln2_w = weights.Get(p + n + ".3.weight", Shape{Cn});
    neck.ln2_b = weights.Get(p + n + ".3.bias", Shape{Cn});
  };
  load_neck("neck", neck_);
  load_neck("neck_hd", neck_hd_);
  down1_w_ = weights.Get(p + "downsamples.0.weight", Shape{D1, Cn, 3, 3});
  down2_w_ = weights.Get(p + "downsamples.1.weight", Shape{D2, D1, 3, 3});
  hd_alpha_ = weights.Get(p + "hd_alpha_downsamples", Shape{1});
}

// Attention of one block (qkv of the normed tokens in buf.qkv) -> buf.attn (before proj), one
// (window, head) at a time so the two products are plain pool-wide GEMMs. Windowed blocks zero-pad
// the token grid to a multiple of the window AFTER norm1, so a padded token's q/k/v is just the qkv
// bias; padded keys take part unmasked, as in the official window_partition, and padded queries are
// dropped (window_unpartition crops them).
void SamEncoder::Attend(ThreadPool& pool, const Block& blk, Buffers& buf) const {
  const int64_t G = grid(), C = config_.width, H = config_.heads, D = C / H;
  const bool global = blk.window == 0;
  const int64_t S = global ? G : blk.window;
  const int64_t nw = (G + S - 1) / S;  // windows per side
  const int64_t SS = S * S;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  kernels::ToF32(blk.qkv_b, 0, 3 * C, buf.qkv_bias.data());
  kernels::ToF32(blk.rel_h, 0, (2 * S - 1) * D, buf.rel_h.data());
  kernels::ToF32(blk.rel_w, 0, (2 * S - 1) * D, buf.rel_w.data());
  const float* qkv = buf.qkv.f32();
  const float* rel_h = buf.rel_h.data();
  const float* rel_w = buf.rel_w.data();
  const float* pad = buf.qkv_bias.data();
  float* q_win = buf.q_win.f32();
  float* k_win = buf.k_win.f32();
  float* vt_win = buf.vt_win.f32();
  float* o_win = buf.o_win.f32();
  float* scores = buf.scores.f32();
  float* attn = buf.attn.f32();
  // Row of token j of window (wy, wx) in qkv, or nullptr for a padded token.
  auto token = [&](int64_t wy, int64_t wx, int64_t j) -> const float* {
    const int64_t gy = wy * S + j / S, gx = wx * S + j % S;
    return (gy < G && gx < G) ? qkv + (gy * G + gx) * 3 * C : nullptr;
  };

  for (int64_t win = 0; win < nw * nw; ++win) {
    const int64_t wy = win / nw, wx = win % nw;
    for (int64_t head = 0; head < H; ++head) {
      // Q and K of a global block are strided views of qkv; windows are gathered.
      const float* q = qkv + head * D;
      const float* k = qkv + C + head * D;
      int64_t ldq = 3 * C, ldk = 3 * C;
      pool.ParallelFor(SS, 64, [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j) {
          const float* row = token(wy, wx, j);
          const float* src = row ? row : pad;
          if (!global) {
            std::copy_n(src + head * D, D, q_win + j * D);
            std::copy_n(src + C + head * D, D, k_win + j * D);
          }
          for (int64_t c = 0; c < D; ++c) vt_win[c * SS + j] = src[2 * C + head * D + c];
        }
      });
      if (!global) {
        q = q_win;
        k = k_win;
        ldq = ldk = D;
      }
      // Query rows in chunks, so a global block's score matrix stays a few MB instead of SS^2.
      for (int64_t i0 = 0; i0 < SS; i0 += kQueryRows) {
        const int64_t rows = std::min(kQueryRows, SS - i0);
        const float* q_rows = q + i0 * ldq;
        // scores = (q * scale) k^T
        kernels::GemmNT(pool, rows, SS, D, q_rows, ldq, k, ldk, scores, SS, scale);
        // + decomposed relative positions from the UNscaled q: Rh[qy - ky + S - 1], Rw[qx - kx + S - 1];
        // then softmax per query.
        pool.Run((rows + 31) / 32, [&](int64_t task, int thread) {
          float* rh = buf.thread_scratch.f32() + thread * buf.thread_stride;
          float* rw = rh + S;
          const int64_t r_end = std::min(rows, (task + 1) * 32);
          for (int64_t r = task * 32; r < r_end; ++r) {
            const int64_t i = i0 + r, qy = i / S, qx = i % S;
            const float* qi = q_rows + r * ldq;
            for (int64_t t = 0; t < S; ++t) {
              float h_acc = 0.0f, w_acc = 0.0f;
              const float* th = rel_h + (qy - t + S - 1) * D;
              const float* tw = rel_w + (qx - t + S - 1) * D;
              for (int64_t c = 0; c < D; ++c) {
                h_acc += qi[c] * th[c];
                w_acc += qi[c] * tw[c];
              }
              rh[t] = h_acc;
              rw[t] = w_acc;
            }
            float* row = scores + r * SS;
            for (int64_t ky = 0; ky < S; ++ky) {
              float* seg = row + ky * S;
              for (int64_t kx = 0; kx < S; ++kx) seg[kx] += rh[ky] + rw[kx];
            }
            kernels::SoftmaxRow(row, SS);
          }
        });
        // out = P v: global blocks write straight into their head's columns of attn.
        if (global) {
          kernels::GemmNT(pool, rows, D, SS, scores, SS, vt_win, SS, attn + i0 * C + head * D, C);
        } else {
          kernels::GemmNT(pool, rows, D, SS, scores, SS, vt_win, SS, o_win + i0 * D, D);
        }
      }
      if (global) continue;
      for (int64_t j = 0; j < SS; ++j) {
        const int64_t gy = wy * S + j / S, gx = wx * S + j % S;
        if (gy < G && gx < G) std::copy_n(o_win + j * D, D, attn + (gy * G + gx) * C + head * D);
      }
    }
  }
}

void SamEncoder::RunNeck(ThreadPool& pool, const Neck& neck, const float* x, Buffers& buf,
                         float* out) const {
  const int64_t G = grid(), C = config_.width, Cn = config_.neck_channels;
  float* tokens = buf.neck_tokens.f32();
  // Conv 1x1 without bias on NHWC tokens is a Linear; LayerNorm2d normalises each pixel over its
  // channels, which on NHWC rows is a plain LayerNorm.
  kernels::Linear(pool, x, G * G, C, neck.conv1_w.Reshape(Shape{Cn, C}), nullptr, tokens);
  kernels::LayerNorm(pool, tokens, G * G, Cn, neck.ln1_w, neck.ln1_b, kLayerNorm2dEps, tokens);
  Transpose(pool, tokens, G * G, Cn, buf.neck_chw.f32());
  kernels::Conv2d(pool, buf.neck_chw.f32(), kernels::Conv2dArgs{Cn, G, G, Cn, 3, 3, 1, 1}, neck.conv2_w,
                  nullptr, buf.neck_conv.f32());
  Transpose(pool, buf.neck_conv.f32(), Cn, G * G, tokens);
  kernels::LayerNorm(pool, tokens, G * G, Cn, neck.ln2_w, neck.ln2_b, kLayerNorm2dEps, tokens);
  Transpose(pool, tokens, G * G, Cn, out);
}

void SamEncoder::Forward(ThreadPool& pool, const float* pixels, float* out, YieldFn yield) const {
  const int64_t S = config_.image_size, ps = config_.patch_size, G = grid(), GG = G * G;
  const int64_t C = config_.width, F = config_.mlp_hidden, K = 3 * ps * ps, D = C / config_.heads;
  const int64_t Cn = config_.neck_channels;
  const int64_t D1 = config_.downsample_channels[0], D2 = config_.downsample_channels[1];
  const float eps = config_.ln_eps;

  Buffers buf;
  buf.x = Tensor::Empty(DType::kF32, Shape{GG, C});
  buf.h = Tensor::Empty(DType::kF32, Shape{GG, C});
  buf.qkv = Tensor::Empty(DType::kF32, Shape{GG, 3 * C});
  buf.attn = Tensor::Empty(DType::kF32, Shape{GG, C});
  buf.mlp = Tensor::Empty(DType::kF32, Shape{GG, std::max(F, K)});  // patches first, then MLP hidden
  buf.global_feature = Tensor::Empty(DType::kF32, Shape{GG, C});
  buf.neck_tokens = Tensor::Empty(DType::kF32, Shape{GG, Cn});
  buf.neck_chw = Tensor::Empty(DType::kF32, Shape{Cn, GG});
  buf.neck_conv = Tensor::Empty(DType::kF32, Shape{Cn, GG});
  const int64_t max_window = std::max(G, config_.window_size);
  const int64_t max_ss = max_window * max_window;
  const int64_t win_ss = config_.window_size * config_.window_size;
  buf.q_win = Tensor::Empty(DType::kF32, Shape{win_ss, D});
  buf.k_win = Tensor::Empty(DType::kF32, Shape{win_ss, D});
  buf.o_win = Tensor::Empty(DType::kF32, Shape{win_ss, D});
  buf.vt_win = Tensor::Empty(DType::kF32, Shape{D, max_ss});
  buf.scores = Tensor::Empty(DType::kF32, Shape{std::min(max_ss, kQueryRows), max_ss});
  buf.thread_stride = (2 * max_window + 15) / 16 * 16;  // each thread's slice 64-byte aligned
  buf.thread_scratch = Tensor::Empty(DType::kF32, Shape{pool.size(), buf.thread_stride});
  buf.qkv_bias.resize(static_cast<size_t>(3 * C));
  buf.rel_h.resize(static_cast<size_t>((2 * max_window - 1) * D));
  buf.rel_w.resize(buf.rel_h.size());

  // Patch embedding (conv k=s=patch) as im2col + Linear, normalising with the tower's mean/std;
  // tokens come out NHWC, row-major over the 64x64 grid, as the official permute(0, 2, 3, 1).
  float* patches = buf.mlp.f32();
  const std::array<float, 3> mean = config_.normalize ? config_.mean : std::array<float, 3>{0.0f, 0.0f, 0.0f};
  const std::array<float, 3> sd = config_.normalize ? config_.std : std::array<float, 3>{1.0f, 1.0f, 1.0f};
  pool.ParallelFor(G, 1, [&](int64_t y0, int64_t y1) {
    for (int64_t py = y0; py < y1; ++py)
      for (int64_t px = 0; px < G; ++px) {
        float* dst = patches + (py * G + px) * K;
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t ky = 0; ky < ps; ++ky) {
            const float* row = pixels + (c * S + py * ps + ky) * S + px * ps;
            for (int64_t kx = 0; kx < ps; ++kx) *dst++ = (row[kx] - mean[c]) / sd[c];
          }
      }
  });
  kernels::Linear(pool, patches, GG, K, patch_w_.Reshape(Shape{C, K}), &patch_b_, buf.x.f32());
  kernels::ToF32(pos_embed_, 0, GG * C, buf.h.f32());
  kernels::Add(pool, buf.x.f32(), buf.h.f32(), GG * C);
  yield();

  bool have_global_feature = false;
  for (const Block& blk : blocks_) {
    kernels::LayerNorm(pool, buf.x.f32(), GG, C, blk.norm1_w, blk.norm1_b, eps, buf.h.f32());
    kernels::Linear(pool, buf.h.f32(), GG, C, blk.qkv_w, &blk.qkv_b, buf.qkv.f32());
    Attend(pool, blk, buf);
    kernels::Linear(pool, buf.attn.f32(), GG, C, blk.proj_w, &blk.proj_b, buf.h.f32());
    kernels::Add(pool, buf.x.f32(), buf.h.f32(), GG * C);
    yield();
    kernels::LayerNorm(pool, buf.x.f32(), GG, C, blk.norm2_w, blk.norm2_b, eps, buf.h.f32());
    kernels::Linear(pool, buf.h.f32(), GG, C, blk.lin1_w, &blk.lin1_b, buf.mlp.f32());
    kernels::GeluErf(pool, buf.mlp.f32(), GG * F);
    kernels::Linear(pool, buf.mlp.f32(), GG, F, blk.lin2_w, &blk.lin2_b, buf.h.f32());
    kernels::Add(pool, buf.x.f32(), buf.h.f32(), GG * C);
    if (blk.window == 0 && !have_global_feature) {
      std::copy_n(buf.x.f32(), GG * C, buf.global_feature.f32());
      have_global_feature = true;
    }
    yield();
  }

  // Official: x = down(up(neck(x))) + down(up(neck_hd(g))) * alpha. Upsample and the bias-free
  // downsample convs are linear, so this equals down(up(neck(x) + alpha * neck_hd(g))) exactly in
  // real arithmetic, at half the cost of the two big convs.
  Tensor neck_out = Tensor::Empty(DType::kF32, Shape{Cn, GG});
  Tensor hd_out = Tensor::Empty(DType::kF32, Shape{Cn, GG});
  RunNeck(pool, neck_, buf.x.f32(), buf, neck_out.f32());
  yield();
  RunNeck(pool, neck_hd_, buf.global_feature.f32(), buf, hd_out.f32());
  yield();
  float alpha = 0.0f;
  kernels::ToF32(hd_alpha_, 0, 1, &alpha);
  {
    float* a = neck_out.f32();
    const float* b = hd_out.f32();
    pool.ParallelFor(Cn * GG, 16384, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) a[i] += alpha * b[i];
    });
  }
  const int64_t U = kUpsampleSide;
  Tensor up = Tensor::Empty(DType::kF32, Shape{Cn, U * U});
  kernels::ResizeBilinear(pool, neck_out.f32(), Cn, G, G, up.f32(), U, U, /*antialias=*/false);
  yield();
  const int64_t s1 = kernels::ConvOutSize(U, 3, 2, 1), s2 = out_side();
  Tensor d1 = Tensor::Empty(DType::kF32, Shape{D1, s1 * s1});
  Tensor d2 = Tensor::Empty(DType::kF32, Shape{D2, s2 * s2});
  kernels::Conv2d(pool, up.f32(), kernels::Conv2dArgs{Cn, U, U, D1, 3, 3, 2, 1}, down1_w_, nullptr, d1.f32());
  yield();
  kernels::Conv2d(pool, d1.f32(), kernels::Conv2dArgs{D1, s1, s1, D2, 3, 3, 2, 1}, down2_w_, nullptr,
                  d2.f32());
  Transpose(pool, d2.f32(), D2, s2 * s2, out);
}

}  // namespace dsvl
