// Layout helpers for the shim (included by shim.cpp): NHWC↔NCHW views, the fast 2-D transpose, filters stored
// OHWI behind their HWIO view, and the window geometry conv/pool kernels share.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace lwi {
using at::Tensor;

Tensor nhwc_to_nchw(const Tensor& x) { return x.permute({0, 3, 1, 2}); }
Tensor nchw_to_nhwc(const Tensor& x) { return x.permute({0, 2, 3, 1}); }
// dst = srcᵀ for a row-major [rows, cols] float matrix. ATen's copy of a permuted view moves under 1 GB/s for these
// shapes; 8×8 register transposes (AVX2) inside 64×64 tiles are ~10× faster.
inline void transpose_tail(const float* src, float* dst, int64_t rows, int64_t cols, int64_t r0, int64_t r1,
                           int64_t c0, int64_t c1) {
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
  }
}

__attribute__((target("avx2"))) void transpose_avx2(const float* src, float* dst, int64_t rows, int64_t cols,
                                                     int64_t rb, int64_t re) {
  constexpr int64_t T = 64;
  for (int64_t r0 = rb; r0 < re; r0 += T) {
    const int64_t r1 = std::min(r0 + T, re);
    for (int64_t c0 = 0; c0 < cols; c0 += T) {
      const int64_t c1 = std::min(c0 + T, cols);
      int64_t r = r0;
      for (; r + 8 <= r1; r += 8) {
        int64_t c = c0;
        for (; c + 8 <= c1; c += 8) {
          const float* s = src + r * cols + c;
          float* d = dst + c * rows + r;
          __m256 a0 = _mm256_loadu_ps(s), a1 = _mm256_loadu_ps(s + cols), a2 = _mm256_loadu_ps(s + 2 * cols),
                 a3 = _mm256_loadu_ps(s + 3 * cols), a4 = _mm256_loadu_ps(s + 4 * cols),
                 a5 = _mm256_loadu_ps(s + 5 * cols), a6 = _mm256_loadu_ps(s + 6 * cols),
                 a7 = _mm256_loadu_ps(s + 7 * cols);
          __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1), t2 = _mm256_unpacklo_ps(a2, a3),
                 t3 = _mm256_unpackhi_ps(a2, a3), t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5),
                 t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
          __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
          _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
          _mm256_storeu_ps(d + rows, _mm256_permute2f128_ps(u1, u5, 0x20));
          _mm256_storeu_ps(d + 2 * rows, _mm256_permute2f128_ps(u2, u6, 0x20));
          _mm256_storeu_ps(d + 3 * rows, _mm256_permute2f128_ps(u3, u7, 0x20));
          _mm256_storeu_ps(d + 4 * rows, _mm256_permute2f128_ps(u0, u4, 0x31));
          _mm256_storeu_ps(d + 5 * rows, _mm256_permute2f128_ps(u1, u5, 0x31));
          _mm256_storeu_ps(d + 6 * rows, _mm256_permute2f128_ps(u2, u6, 0x31));
          _mm256_storeu_ps(d + 7 * rows, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        transpose_tail(src, dst, rows, cols, r, r + 8, c, c1);
      }
      transpose_tail(src, dst, rows, cols, r, r1, c0, c1);
    }
  }
}

void transpose_into(const float* src, float* dst, int64_t rows, int64_t cols) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  constexpr int64_t T = 64;
  at::parallel_for(0, (rows + T - 1) / T, 1, [&](int64_t b, int64_t e) {
    const int64_t rb = b * T, re = std::min(e * T, rows);
    if (avx2) {
      transpose_avx2(src, dst, rows, cols, rb, re);
    } else {
      for (int64_t r0 = rb; r0 < re; r0 += T) {
        for (int64_t c0 = 0; c0 < cols; c0 += T) transpose_tail(src, dst, rows, cols, r0, std::min(r0 + T, re), c0, std::min(c0 + T, cols));
      }
    }
  });
}

// Filters: tfjs's logical layout is [fh, fw, in, out] (HWIO); oneDNN convolves channels-last activations fastest
// with an OHWI weight ([out, fh, fw, in] in memory, ATen's channels_last weight), and returns weight gradients
// that way. So a float filter is *stored* OHWI and shown to tfjs as an HWIO view: the first conv that sees a
// filter written from JS converts it in place (same values, other strides; the handle is tfjs's only reference),
// gradients come back already OHWI, and the optimizer's elementwise updates keep that layout (see `align`) — in
// steady state no conv touches a filter's layout at all. (HWIO as a [fh·fw·in, out] matrix is the transpose of
// OHWI as [out, fh·fw·in], so one 2-D transpose converts.)
bool stored_ohwi(const Tensor& t) { return t.dim() == 4 && t.permute({3, 0, 1, 2}).is_contiguous(); }

// The same values as `f` (HWIO logical), stored OHWI.
Tensor ohwi_storage(const Tensor& f) {
  if (stored_ohwi(f) || f.scalar_type() != at::kFloat) return f;
  const Tensor c = f.contiguous();
  const int64_t kh = c.size(0), kw = c.size(1), ci = c.size(2), co = c.size(3);
  Tensor ohwi = at::empty({co, kh, kw, ci}, c.options());
  transpose_into(c.data_ptr<float>(), ohwi.data_ptr<float>(), kh * kw * ci, co);
  return ohwi.permute({1, 2, 3, 0});
}

// tfjs filter [fh, fw, in, out] → ATen weight [out, in, fh, fw] (channels_last strides). Converts the stored
// filter in place on first use.
Tensor filter_to_weight(Tensor& f) {
  if (f.scalar_type() == at::kFloat && !stored_ohwi(f)) f = ohwi_storage(f);
  return f.permute({3, 2, 0, 1});
}

// ATen weight gradient [out, in, fh, fw] → tfjs filter [fh, fw, in, out], stored OHWI like the filter.
Tensor weight_to_filter(const Tensor& g) { return ohwi_storage(g.permute({2, 3, 1, 0})); }

// Elementwise ops between an OHWI-stored filter and a same-shaped contiguous tensor (a momentum buffer made by
// zerosLike before the filter's first conv, a gradient from elsewhere) would read one of them across the grain
// (~6× slower). Convert the contiguous one instead, so the result — and whatever is assigned from it — is OHWI.
void align(Tensor& a, Tensor& b) {
  if (a.dim() != 4 || b.dim() != 4 || a.sizes() != b.sizes()) return;
  if (a.scalar_type() != at::kFloat || b.scalar_type() != at::kFloat) return;
  const bool ao = stored_ohwi(a) && !a.is_contiguous(), bo = stored_ohwi(b) && !b.is_contiguous();
  if (ao && !bo && b.is_contiguous()) b = ohwi_storage(b);
  if (bo && !ao && a.is_contiguous()) a = ohwi_storage(a);
}

template <typename Fn>
Tensor aligned(const Tensor& a_in, const Tensor& b_in, Fn fn) {
  Tensor a = a_in, b = b_in;
  align(a, b);
  return fn(a, b);
}

// tfjs depthwise filter [fh, fw, in, mult] → ATen grouped weight [in*mult, 1, fh, fw].
Tensor depthwise_to_weight(const Tensor& f) {
  return f.permute({2, 3, 0, 1}).reshape({f.size(2) * f.size(3), 1, f.size(0), f.size(1)});
}

// Window geometry shared by conv and pool: the ints are
//   sh sw  pt pb pl pr  dh dw  kh kw  oh ow  (tfjs's convInfo, with the output size it promises)
struct Window {
  int64_t sh, sw, pt, pb, pl, pr, dh, dw, kh, kw, oh, ow;
  static Window read(const int32_t* I) {
    return {I[0], I[1], I[2], I[3], I[4], I[5], I[6], I[7], I[8], I[9], I[10], I[11]};
  }
  // Rows/columns of padding the output size actually needs below/right of the input (tfjs may list more or, with
  // 'valid' and a stride that does not divide, fewer).
  int64_t need_b(int64_t h) const { return std::max<int64_t>(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - pt); }
  int64_t need_r(int64_t w) const { return std::max<int64_t>(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w - pl); }
};

// ATen pads symmetrically. For asymmetric padding, pad explicitly with `value` and pass zero padding instead.
// How to hand an input of h×w pixels to ATen, which pads symmetrically: as is with padding (ph, pw), or — for
// asymmetric padding — padded explicitly to hp×wp and convolved/pooled without padding.
struct PadPlan {
  bool explicit_pad;  // if true, gradients wrt the input must be cropped by (pt, pl)
  int64_t ph, pw;     // padding to hand ATen
  int64_t pt, pb, pl, pr;
  int64_t hp, wp;     // the padded size when explicit_pad
};

PadPlan pad_plan(int64_t h, int64_t w, const Window& win, bool pool) {
  const int64_t pb = win.need_b(h), pr = win.need_r(w);
  const bool symmetric = win.pt == pb && win.pl == pr;
  // ATen's pooling also requires padding ≤ half the (effective) window.
  const bool fits = !pool || (2 * win.pt <= (win.kh - 1) * win.dh + 1 && 2 * win.pl <= (win.kw - 1) * win.dw + 1);
  if (symmetric && fits) return {false, win.pt, win.pl, win.pt, pb, win.pl, pr, h, w};
  return {true, 0, 0, win.pt, pb, win.pl, pr, win.pt + h + pb, win.pl + w + pr};
}

struct Padded {
  Tensor x;  // NCHW input, padded when plan.explicit_pad
  PadPlan plan;
};

Padded pad_for(const Tensor& x, const Window& win, double value, bool pool) {
  const PadPlan p = pad_plan(x.size(2), x.size(3), win, pool);
  if (!p.explicit_pad) return {x, p};
  return {at::constant_pad_nd(x, {p.pl, p.pr, p.pt, p.pb}, value), p};
}

Tensor crop_hw(const Tensor& g, int64_t top, int64_t left, int64_t h, int64_t w) {
  return g.narrow(2, top, h).narrow(3, left, w);
}

// Trims an ATen output to the size tfjs promised (ATen may produce an extra row when tfjs's padding is generous).
Tensor fit_out(const Tensor& y, const Window& w) {
  if (y.size(2) == w.oh && y.size(3) == w.ow) return y;
  return y.narrow(2, 0, w.oh).narrow(3, 0, w.ow);
}

// An uninitialised NCHW tensor shaped like `like` would be after a permute from NHWC: only its sizes and layout
// are read by ATen's backward kernels.
Tensor empty_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const Tensor& like) {
  return at::empty({n, h, w, c}, like.options()).permute({0, 3, 1, 2});
}

// Fused activations (tfjs's `activation` attr of _FusedConv2D / _FusedMatMul).
enum Act { kLinear = 0, kRelu, kRelu6, kElu, kSigmoid, kLeakyRelu, kPrelu };
Tensor activate(const Tensor& y, int act, double alpha, const Tensor* prelu) {
  switch (act) {
    case kLinear: return y;
    case kRelu: return at::relu(y);
    case kRelu6: return at::clamp(y, 0, 6);
    case kElu: return at::elu(y);
    case kSigmoid: return at::sigmoid(y);
    case kLeakyRelu: return at::where(y < 0, y * alpha, y);
    case kPrelu: return at::where(y < 0, y * *prelu, y);
  }
  throw std::runtime_error("unknown activation " + std::to_string(act));
}

}  // namespace lwi
