// Convolutions with small outputs (included by shim.cpp): one oneDNN sgemm per filter tap instead of oneDNN's
// convolution primitives.
//
// With the ImageNet stem on 28×28 inputs, ResNet18's layer4 runs at 1×1 (and layer3 at 2×2). There oneDNN's
// direct convolution does mostly padding: at 1×1 with a 3×3 'same' filter, eight of the nine taps only ever see
// zeros, yet its backward-weights kernel took 8 ms per 512×512 conv (1 thread) for what is one 32×512×512 product
// (0.2 ms). Here each tap (i, j) of the filter is an [out, in] matrix (the filter is stored OHWI). The output pixels
// for which that tap reads a real input pixel form a rectangle of the output grid; with their input pixels gathered
// into rows x_tap and their output gradients into rows dy_tap,
//   forward        y[rect]  += x_tap[rows, in] · W_tapᵀ
//   input grad     dx[the pixels read] += dy_tap[rows, out] · W_tap
//   filter grad    dW_tap[out, in]      = dy_tapᵀ · x_tap
// so padding is never multiplied: at 2×2 with a 3×3 'same' filter that is 16 of 36 pixel-taps (a third of the
// work), at 4×4 100 of 144. Taps that reach no input pixel are skipped (their filter gradient is zero); a tap that
// covers the whole output reads dy (or writes y) in place, and one that reads the input pixel for pixel (the centre
// tap at 1×1) reads x in place too.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "shim-layout.h"
#include "shim-loops.h"

namespace lwi {
using at::Tensor;

// Output pixels [r0, r1) × [c0, c1) of every image: where one tap reads inside the input.
struct Rect {
  int64_t r0, r1, c0, c1;
  bool empty() const { return r1 <= r0 || c1 <= c0; }
};

// Geometry of a float NHWC convolution with an OHWI-stored filter.
struct TapConv {
  int64_t n, h, w, ci, co;
  Window win;
  int64_t ld_w() const { return win.kh * win.kw * ci; }  // row stride of W_tap inside the OHWI filter
  // Input row/column that tap row i / column j reads for output row r / column c (may be outside the input).
  int64_t ih(int64_t r, int64_t i) const { return r * win.sh - win.pt + i * win.dh; }
  int64_t iw(int64_t c, int64_t j) const { return c * win.sw - win.pl + j * win.dw; }
  // First output index t in [0, n) with lo ≤ t·s + off < hi, and one past the last (ih/iw are increasing in t).
  static std::pair<int64_t, int64_t> span(int64_t n, int64_t s, int64_t off, int64_t hi) {
    int64_t a = 0, b = n;
    while (a < b && a * s + off < 0) ++a;
    while (b > a && (b - 1) * s + off >= hi) --b;
    return {a, b};
  }
  Rect rect(int64_t i, int64_t j) const {
    const auto [r0, r1] = span(win.oh, win.sh, i * win.dh - win.pt, h);
    const auto [c0, c1] = span(win.ow, win.sw, j * win.dw - win.pl, w);
    return {r0, r1, c0, c1};
  }
  bool full(const Rect& q) const { return q.r0 == 0 && q.r1 == win.oh && q.c0 == 0 && q.c1 == win.ow; }
  int64_t rows(const Rect& q) const { return n * (q.r1 - q.r0) * (q.c1 - q.c0); }
  // The tap reads the input pixel for pixel: x itself is x_tap.
  bool identity(int64_t i, int64_t j) const {
    return win.oh == h && win.ow == w && win.sh == 1 && win.sw == 1 && i * win.dh == win.pt && j * win.dw == win.pl;
  }
  // fn(k, output pixel, input pixel) for the k-th pixel of tap (i, j)'s rectangle, in rows of images in parallel
  // (distinct output pixels of one tap read distinct input pixels, so writes by pixel never collide).
  template <typename Fn>
  void each(int64_t i, int64_t j, const Rect& q, Fn fn) const {
    const int64_t nr = q.r1 - q.r0, nc = q.c1 - q.c0;
    at::parallel_for(0, n * nr, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t img = t / nr, r = q.r0 + t % nr, y = ih(r, i);
        for (int64_t c = q.c0; c < q.c1; ++c) {
          fn(t * nc + (c - q.c0), (img * win.oh + r) * win.ow + c, (img * h + y) * w + iw(c, j));
        }
      }
    });
  }
};

// Copies `width` floats per pixel: dst row k ← src pixel (input when `from_input`, else output) of tap (i, j).
inline void gather(const TapConv& g, int64_t i, int64_t j, const Rect& q, const float* src, int64_t width,
                   bool from_input, float* dst) {
  g.each(i, j, q, [&](int64_t k, int64_t out_px, int64_t in_px) {
    std::memcpy(dst + k * width, src + (from_input ? in_px : out_px) * width, width * sizeof(float));
  });
}

// dst pixel (input or output) of tap (i, j) += src row k.
inline void scatter_add(const TapConv& g, int64_t i, int64_t j, const Rect& q, const float* src, int64_t width,
                        bool to_input, float* dst) {
  g.each(i, j, q, [&](int64_t k, int64_t out_px, int64_t in_px) {
    float* d = dst + (to_input ? in_px : out_px) * width;
    const float* s = src + k * width;
    for (int64_t c = 0; c < width; ++c) d[c] += s[c];
  });
}

inline void sgemm_or_throw(Sgemm f, char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const int st = f(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  if (st != 0) throw std::runtime_error("dnnl_sgemm failed with status " + std::to_string(st));
}

// Which convolution algorithm to use: 0 = by shape (use_tap_gemm; Winograd too when kWinogradInAuto), 1 = tap-GEMM
// wherever it applies, 2 = ATen (oneDNN), 3 = Winograd wherever it applies (shim-winograd.h), by shape elsewhere,
// 4 = by shape with Winograd's shape rule (what 0 becomes once Winograd is measured faster). Set through
// lwi_conv_algorithm, for tests and measurements.
inline int& conv_algorithm() {
  static int mode = 0;
  return mode;
}

enum class ConvPass { kForward, kInputGrad, kFilterGrad };

// Some tap of the window reads padding for some output pixel (the tap GEMM skips that work, oneDNN does not).
inline bool reads_padding(int64_t h, int64_t w, const Window& win) {
  const TapConv g{1, h, w, 1, 1, win};
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) {
      const Rect q = g.rect(i, j);
      if (!g.full(q)) return true;
    }
  }
  return false;
}

// Whether the tap-GEMM path runs this convolution: float NHWC, not depthwise, oneDNN's sgemm present, and a small
// output. The rule follows `bench/profile-ops.ts --conv-ab` (each conv call of a ResNet18 step timed both ways, back
// to back, 1 thread; ATen time / tap-GEMM time):
//   1 output pixel        every pass 2–20× (layer4 of the ImageNet stem on 28×28: 512→512 weight gradient 14 ms
//                         vs 0.7 ms)
//   2×2                   1.3–3.5× when taps read padding; a forward pass without padding 0.5×
//   4×4                   weight gradient 1.4–2.6×; forward 1.3× at 512 channels, 0.9× at 128; input gradient
//                         1.0–1.2× at 512 output channels, 1.0× at 128
//   7×7 and above         weight gradient 1.0–1.2×, the others 0.55–0.9× (and 0.1× for the 1-channel stem)
// `in_ch`/`out_ch` are the convolution's input and output channels, h×w its input size.
inline bool use_tap_gemm(const Tensor& x, const Tensor& f, const Window& win, bool depthwise, bool nchw, ConvPass pass,
                         int64_t h, int64_t w, int64_t in_ch, int64_t out_ch) {
  if (depthwise || nchw || dnnl_sgemm() == nullptr) return false;
  if (x.scalar_type() != at::kFloat || f.scalar_type() != at::kFloat) return false;
  if (x.numel() == 0 || f.numel() == 0) return false;
  if (conv_algorithm() == 1 || conv_algorithm() == 2) return conv_algorithm() == 1;
  const int64_t px = win.oh * win.ow;
  switch (pass) {
    case ConvPass::kForward:
      return px == 1 || (px <= 4 && reads_padding(h, w, win)) || (px <= 16 && in_ch >= 256);
    case ConvPass::kInputGrad:
      return px <= 4 || (px <= 16 && out_ch >= 256);
    case ConvPass::kFilterGrad:
      return px <= 16;
  }
  return false;
}

inline TapConv tap_conv(int64_t n, int64_t h, int64_t w, int64_t ci, int64_t co, const Window& win) {
  return {n, h, w, ci, co, win};
}

// A scratch float buffer of at least `n` elements.
inline float* scratch(Tensor& t, int64_t n, const Tensor& like) {
  if (!t.defined() || t.numel() < n) t = at::empty({n}, like.options());
  return t.data_ptr<float>();
}

// y = conv(x, filter) as NHWC [n, oh, ow, co]. x: NHWC, filter: HWIO view (converted to OHWI storage in place).
inline Tensor tap_conv_forward(const Tensor& x_in, Tensor& filter, const Window& win) {
  const Tensor x = x_in.contiguous();
  const Tensor wt = filter_to_weight(filter).permute({0, 2, 3, 1});  // [co, kh, kw, ci], contiguous
  const TapConv g = tap_conv(x.size(0), x.size(1), x.size(2), x.size(3), wt.size(0), win);
  Tensor y = at::zeros({g.n, win.oh, win.ow, g.co}, x.options());
  Tensor xs, ys;
  const float* xp = x.data_ptr<float>();
  const float* wp = wt.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) {
      const Rect q = g.rect(i, j);
      if (q.empty()) continue;
      const int64_t m = g.rows(q);
      const float* a = xp;
      if (!g.identity(i, j)) {
        float* buf = scratch(xs, m * g.ci, x);
        gather(g, i, j, q, xp, g.ci, true, buf);
        a = buf;
      }
      const float* b = wp + (i * win.kw + j) * g.ci;
      if (g.full(q)) {
        sgemm_or_throw(dnnl_sgemm(), 'N', 'T', m, g.co, g.ci, a, g.ci, b, g.ld_w(), 1.0f, yp, g.co);
      } else {
        float* out = scratch(ys, m * g.co, x);
        sgemm_or_throw(dnnl_sgemm(), 'N', 'T', m, g.co, g.ci, a, g.ci, b, g.ld_w(), 0.0f, out, g.co);
        scatter_add(g, i, j, q, out, g.co, false, yp);
      }
    }
  }
  return y;
}

// dx (NHWC [n, h, w, ci]) from dy (NHWC [n, oh, ow, co]) and the filter.
inline Tensor tap_conv_backprop_input(const Tensor& dy_in, Tensor& filter, const Window& win, int64_t n, int64_t h,
                                      int64_t w, int64_t ci) {
  const Tensor dy = dy_in.contiguous();
  const Tensor wt = filter_to_weight(filter).permute({0, 2, 3, 1});
  const TapConv g = tap_conv(n, h, w, ci, wt.size(0), win);
  const float* dyp = dy.data_ptr<float>();
  const float* wp = wt.data_ptr<float>();
  std::vector<std::pair<int64_t, int64_t>> taps;
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) {
      if (!g.rect(i, j).empty()) taps.emplace_back(i, j);
    }
  }
  // One tap reading the input pixel for pixel (the centre tap at 1×1): dx is its product.
  if (taps.size() == 1 && g.identity(taps[0].first, taps[0].second)) {
    Tensor dx = at::empty({n, h, w, ci}, dy.options());
    const int64_t t = taps[0].first * win.kw + taps[0].second;
    sgemm_or_throw(dnnl_sgemm(), 'N', 'N', n * h * w, ci, g.co, dyp, g.co, wp + t * ci, g.ld_w(), 0.0f,
                   dx.data_ptr<float>(), ci);
    return dx;
  }
  Tensor dx = at::zeros({n, h, w, ci}, dy.options());
  float* dxp = dx.data_ptr<float>();
  Tensor dys, dxs;
  for (const auto& [i, j] : taps) {
    const Rect q = g.rect(i, j);
    const int64_t m = g.rows(q);
    const float* a = dyp;
    if (!g.full(q)) {
      float* buf = scratch(dys, m * g.co, dy);
      gather(g, i, j, q, dyp, g.co, false, buf);
      a = buf;
    }
    float* out = scratch(dxs, m * ci, dy);
    sgemm_or_throw(dnnl_sgemm(), 'N', 'N', m, ci, g.co, a, g.co, wp + (i * win.kw + j) * ci, g.ld_w(), 0.0f, out, ci);
    scatter_add(g, i, j, q, out, ci, true, dxp);
  }
  return dx;
}

// dfilter (HWIO view of OHWI storage, [kh, kw, ci, co]) from x (NHWC) and dy (NHWC [n, oh, ow, co]).
inline Tensor tap_conv_backprop_filter(const Tensor& x_in, const Tensor& dy_in, const Window& win, int64_t co) {
  const Tensor x = x_in.contiguous();
  const Tensor dy = dy_in.contiguous();
  const TapConv g = tap_conv(x.size(0), x.size(1), x.size(2), x.size(3), co, win);
  Tensor dw = at::empty({co, win.kh, win.kw, g.ci}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* dyp = dy.data_ptr<float>();
  float* dwp = dw.data_ptr<float>();
  Tensor xs, dys;
  bool any_dead = false;
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) any_dead = any_dead || g.rect(i, j).empty();
  }
  if (any_dead) dw.zero_();
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) {
      const Rect q = g.rect(i, j);
      if (q.empty()) continue;
      const int64_t m = g.rows(q);
      const float* b = xp;
      if (!g.identity(i, j)) {
        float* buf = scratch(xs, m * g.ci, x);
        gather(g, i, j, q, xp, g.ci, true, buf);
        b = buf;
      }
      const float* a = dyp;
      if (!g.full(q)) {
        float* buf = scratch(dys, m * co, x);
        gather(g, i, j, q, dyp, co, false, buf);
        a = buf;
      }
      sgemm_or_throw(dnnl_sgemm(), 'T', 'N', co, g.ci, m, a, co, b, g.ci, 0.0f, dwp + (i * win.kw + j) * g.ci, g.ld_w());
    }
  }
  return dw.permute({1, 2, 3, 0});
}

}  // namespace lwi
