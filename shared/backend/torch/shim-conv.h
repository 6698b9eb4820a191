// Convolutions with a tiny output (included by shim.cpp): one oneDNN sgemm per filter tap instead of oneDNN's
// convolution primitives.
//
// With the ImageNet stem on 28×28 inputs, ResNet18's layer4 runs at 1×1 (and layer3 at 2×2). There oneDNN's
// direct convolution does mostly padding: at 1×1 with a 3×3 'same' filter, eight of the nine taps only ever see
// zeros, yet its backward-weights kernel took 8 ms per 512×512 conv (1 thread) for what is one 32×512×512 product
// (0.2 ms). Here each tap (i, j) of the filter is a [in, out] matrix; the output pixels that tap reaches inside the
// input form a matrix of gathered input rows, and
//   forward        y[rows, out]       += x_tap[rows, in] · W_tapᵀ          (W stored OHWI: W_tap is [out, in])
//   input grad     dx_tap[rows, in]    = dy[rows, out] · W_tap,  scattered back onto dx
//   filter grad    dW_tap[out, in]     = dyᵀ · x_tap
// Taps that reach no input pixel (all padding) are skipped (their filter gradient is zero). When a tap reads the
// input pixel for pixel (stride 1, same size, offset zero: the centre tap at 1×1) no gather happens at all.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "shim-layout.h"
#include "shim-loops.h"

namespace lwi {
using at::Tensor;

// Geometry of a float NHWC convolution with an OHWI-stored filter.
struct TapConv {
  int64_t n, h, w, ci, co;
  Window win;
  int64_t rows() const { return n * win.oh * win.ow; }
  int64_t ld_w() const { return win.kh * win.kw * ci; }  // row stride of W_tap inside the OHWI filter
  // Input row/column that tap row i / column j reads for output row r / column c (may be outside the input).
  int64_t ih(int64_t r, int64_t i) const { return r * win.sh - win.pt + i * win.dh; }
  int64_t iw(int64_t c, int64_t j) const { return c * win.sw - win.pl + j * win.dw; }
  bool live(int64_t i, int64_t j) const {
    bool rows_in = false, cols_in = false;
    for (int64_t r = 0; r < win.oh && !rows_in; ++r) rows_in = ih(r, i) >= 0 && ih(r, i) < h;
    for (int64_t c = 0; c < win.ow && !cols_in; ++c) cols_in = iw(c, j) >= 0 && iw(c, j) < w;
    return rows_in && cols_in;
  }
  // The tap reads the input pixel for pixel: x itself is x_tap.
  bool identity(int64_t i, int64_t j) const {
    return win.oh == h && win.ow == w && win.sh == 1 && win.sw == 1 && i * win.dh == win.pt && j * win.dw == win.pl;
  }
  // Calls fn(output row index, input pixel index or -1) for every output pixel of tap (i, j).
  template <typename Fn>
  void each_row(int64_t i, int64_t j, Fn fn) const {
    at::parallel_for(0, n * win.oh, 1, [&](int64_t b, int64_t e) {
      for (int64_t nr = b; nr < e; ++nr) {
        const int64_t b_ = nr / win.oh, r = nr % win.oh, y = ih(r, i);
        for (int64_t c = 0; c < win.ow; ++c) {
          const int64_t x = iw(c, j);
          const bool in = y >= 0 && y < h && x >= 0 && x < w;
          fn(nr * win.ow + c, in ? (b_ * h + y) * w + x : -1);
        }
      }
    });
  }
  // x_tap: the input pixels tap (i, j) reads, one row per output pixel (zeros where it reads padding).
  void gather(const float* x, int64_t i, int64_t j, float* out) const {
    each_row(i, j, [&](int64_t row, int64_t px) {
      float* o = out + row * ci;
      if (px < 0) std::memset(o, 0, ci * sizeof(float));
      else std::memcpy(o, x + px * ci, ci * sizeof(float));
    });
  }
};

inline void sgemm_or_throw(Sgemm f, char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const int st = f(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  if (st != 0) throw std::runtime_error("dnnl_sgemm failed with status " + std::to_string(st));
}

// Which convolution algorithm to use: 0 = by output size (below), 1 = always tap-GEMM, 2 = always ATen (oneDNN).
// Set through lwi_conv_algorithm, for tests and measurements.
inline int& conv_algorithm() {
  static int mode = 0;
  return mode;
}

enum class ConvPass { kForward, kInputGrad, kFilterGrad };

// Whether the tap-GEMM path is used for this convolution: float NHWC, not depthwise, oneDNN's sgemm present, and by
// default a small output. Measured per ResNet18 shape (1 thread, bench/profile-ops.ts --conv gemm|aten): at 1×1 the
// tap GEMM wins every pass by 3–10×; at 2×2 forward and input gradient are even and at 4×4 oneDNN's win (by up to
// 1.7×), but oneDNN's weight gradient stays slow up to 4×4 (32×4×4×512: 44 ms here, 63–80 ms there; the stride-2
// 9×9 → 4×4 conv: 15 vs 34 ms) and is even at 7×7. So: forward and input gradient up to 4 output pixels, weight
// gradient up to 16.
inline bool use_tap_gemm(const Tensor& x, const Tensor& f, const Window& win, bool depthwise, bool nchw, ConvPass pass) {
  if (depthwise || nchw || dnnl_sgemm() == nullptr) return false;
  if (x.scalar_type() != at::kFloat || f.scalar_type() != at::kFloat) return false;
  if (x.numel() == 0 || f.numel() == 0) return false;
  if (conv_algorithm() != 0) return conv_algorithm() == 1;
  return win.oh * win.ow <= (pass == ConvPass::kFilterGrad ? 16 : 4);
}

inline TapConv tap_conv(int64_t n, int64_t h, int64_t w, int64_t ci, int64_t co, const Window& win) {
  return {n, h, w, ci, co, win};
}

// y = conv(x, filter) as NHWC [n, oh, ow, co]. x: NHWC, filter: HWIO view (converted to OHWI storage in place).
inline Tensor tap_conv_forward(const Tensor& x_in, Tensor& filter, const Window& win) {
  const Tensor x = x_in.contiguous();
  const Tensor wt = filter_to_weight(filter).permute({0, 2, 3, 1});  // [co, kh, kw, ci], contiguous
  const TapConv g = tap_conv(x.size(0), x.size(1), x.size(2), x.size(3), wt.size(0), win);
  Tensor y = at::empty({g.n, win.oh, win.ow, g.co}, x.options());
  Tensor tmp;
  const float* xp = x.data_ptr<float>();
  const float* wp = wt.data_ptr<float>();
  float beta = 0.0f;
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) {
      if (!g.live(i, j)) continue;
      const float* a = xp;
      if (!g.identity(i, j)) {
        if (!tmp.defined()) tmp = at::empty({g.rows(), g.ci}, x.options());
        g.gather(xp, i, j, tmp.data_ptr<float>());
        a = tmp.data_ptr<float>();
      }
      sgemm_or_throw(dnnl_sgemm(), 'N', 'T', g.rows(), g.co, g.ci, a, g.ci, wp + (i * win.kw + j) * g.ci, g.ld_w(),
                     beta, y.data_ptr<float>(), g.co);
      beta = 1.0f;
    }
  }
  if (beta == 0.0f) y.zero_();  // no tap reaches the input
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
      if (g.live(i, j)) taps.emplace_back(i, j);
    }
  }
  Tensor dx = at::empty({n, h, w, ci}, dy.options());
  float* dxp = dx.data_ptr<float>();
  // One tap reading the input pixel for pixel: dx is its product.
  if (taps.size() == 1 && g.identity(taps[0].first, taps[0].second)) {
    const int64_t t = taps[0].first * win.kw + taps[0].second;
    sgemm_or_throw(dnnl_sgemm(), 'N', 'N', g.rows(), ci, g.co, dyp, g.co, wp + t * ci, g.ld_w(), 0.0f, dxp, ci);
    return dx;
  }
  dx.zero_();
  Tensor tmp = at::empty({g.rows(), ci}, dy.options());
  float* tp = tmp.data_ptr<float>();
  for (const auto& [i, j] : taps) {
    sgemm_or_throw(dnnl_sgemm(), 'N', 'N', g.rows(), ci, g.co, dyp, g.co, wp + (i * win.kw + j) * ci, g.ld_w(), 0.0f,
                   tp, ci);
    // Scatter-add. Within one tap distinct output pixels read distinct input pixels (stride ≥ 1), so the
    // parallel rows never add to the same place.
    auto add_row = [&](int64_t row, int64_t px) {
      if (px < 0) return;
      float* d = dxp + px * ci;
      const float* s = tp + row * ci;
      for (int64_t k = 0; k < ci; ++k) d[k] += s[k];
    };
    g.each_row(i, j, add_row);
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
  Tensor tmp;
  bool any_dead = false;
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) any_dead = any_dead || !g.live(i, j);
  }
  if (any_dead) dw.zero_();
  for (int64_t i = 0; i < win.kh; ++i) {
    for (int64_t j = 0; j < win.kw; ++j) {
      if (!g.live(i, j)) continue;
      const float* b = xp;
      if (!g.identity(i, j)) {
        if (!tmp.defined()) tmp = at::empty({g.rows(), g.ci}, x.options());
        g.gather(xp, i, j, tmp.data_ptr<float>());
        b = tmp.data_ptr<float>();
      }
      sgemm_or_throw(dnnl_sgemm(), 'T', 'N', co, g.ci, g.rows(), dyp, co, b, g.ci, 0.0f, dwp + (i * win.kw + j) * g.ci,
                     g.ld_w());
    }
  }
  return dw.permute({1, 2, 3, 0});
}

}  // namespace lwi
