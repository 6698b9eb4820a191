// Max pooling on NHWC data for the shim (included by shim.cpp), forward and gradient, with tfjs's rules: padding
// never wins, NaN never wins, ties go to the first position in the window.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "shim-layout.h"

namespace lwi {
using at::Tensor;

// Max pooling straight on NHWC data (channels innermost, so the inner loop vectorises), with tfjs's rules:
// padding never wins, NaN never wins, ties go to the first position in the window.
struct PoolGeom {
  int64_t n, h, w, c, oh, ow;
  Window win;
  template <typename Fn>
  void for_window(int64_t r, int64_t col, Fn fn) const {  // fn(ih, iw) for the in-bounds taps of output (r, col)
    for (int64_t i = 0; i < win.kh; ++i) {
      const int64_t ih = r * win.sh - win.pt + i * win.dh;
      if (ih < 0 || ih >= h) continue;
      for (int64_t j = 0; j < win.kw; ++j) {
        const int64_t iw = col * win.sw - win.pl + j * win.dw;
        if (iw < 0 || iw >= w) continue;
        fn(ih, iw);
      }
    }
  }
};

Tensor max_pool_nhwc(const Tensor& a, const Window& win) {
  const Tensor x = a.contiguous();
  const PoolGeom g{x.size(0), x.size(1), x.size(2), x.size(3), win.oh, win.ow, win};
  Tensor y = at::empty({g.n, g.oh, g.ow, g.c}, x.options());
  const float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const float ninf = -std::numeric_limits<float>::infinity();
  at::parallel_for(0, g.n * g.oh, 1, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t n = row / g.oh, r = row % g.oh;
      for (int64_t col = 0; col < g.ow; ++col) {
        float* o = out + ((n * g.oh + r) * g.ow + col) * g.c;
        std::fill(o, o + g.c, ninf);
        g.for_window(r, col, [&](int64_t ih, int64_t iw) {
          const float* p = in + ((n * g.h + ih) * g.w + iw) * g.c;
          for (int64_t k = 0; k < g.c; ++k) o[k] = p[k] > o[k] ? p[k] : o[k];
        });
      }
    }
  });
  return y;
}

// The window of one output pixel, per channel: which tap holds the first maximum (strictly greater wins, so ties
// keep the earlier tap and NaN never wins; none when no tap is greater than −∞). `offs` are the taps' offsets into x.
// Then dy goes to that tap: `disjoint` windows (no input pixel in two windows) write dy or 0 to every tap's pixel;
// overlapping ones add dy to the winner's. With AVX-512: 16 channels per group in registers, masked loads and stores
// for the rest (a window of 6 or 16 channels is one group, nothing is read past the tensor's end).
__attribute__((target("avx512f"))) void pool_grad_avx512(const float* in, int64_t in_n, const int64_t* offs,
                                                          int32_t taps, int64_t c, const float* d, float* gx,
                                                          bool disjoint) {
  for (int64_t k0 = 0; k0 < c; k0 += 16) {
    const __mmask16 lanes = c - k0 >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (c - k0)) - 1);
    __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512i tap = _mm512_set1_epi32(-1);
    for (int32_t t = 0; t < taps; ++t) {
      // a full load where 16 floats exist from here (the lanes past c are never used): masked loads cost more
      const __m512 v = offs[t] + k0 + 16 <= in_n ? _mm512_loadu_ps(in + offs[t] + k0) : _mm512_maskz_loadu_ps(lanes, in + offs[t] + k0);
      const __mmask16 m = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
      best = _mm512_mask_mov_ps(best, m, v);
      tap = _mm512_mask_mov_epi32(tap, m, _mm512_set1_epi32(t));
    }
    const __m512 dv = _mm512_maskz_loadu_ps(lanes, d + k0);
    if (disjoint) {
      for (int32_t t = 0; t < taps; ++t) {
        const __mmask16 hit = _mm512_cmpeq_epi32_mask(tap, _mm512_set1_epi32(t));
        _mm512_mask_storeu_ps(gx + offs[t] + k0, lanes, _mm512_maskz_mov_ps(hit, dv));
      }
    } else {
      alignas(64) int32_t won[16];
      alignas(64) float dd[16];
      _mm512_store_si512(won, tap);
      _mm512_store_ps(dd, dv);
      for (int64_t l = 0; l < 16 && k0 + l < c; ++l) {
        if (won[l] >= 0) gx[offs[won[l]] + k0 + l] += dd[l];
      }
    }
  }
}

// The same without AVX-512, one channel at a time (branch-free selects).
inline void pool_grad_scalar(const float* in, const int64_t* offs, int32_t taps, int64_t c, const float* d, float* gx,
                             bool disjoint) {
  for (int64_t k = 0; k < c; ++k) {
    float best = -std::numeric_limits<float>::infinity();
    int32_t tap = -1;
    for (int32_t t = 0; t < taps; ++t) {
      const float v = in[offs[t] + k];
      const bool gt = v > best;
      best = gt ? v : best;
      tap = gt ? t : tap;
    }
    if (disjoint) {
      for (int32_t t = 0; t < taps; ++t) gx[offs[t] + k] = tap == t ? d[k] : 0.0f;
    } else if (tap >= 0) {
      gx[offs[tap] + k] += d[k];
    }
  }
}

// MaxPoolGrad: dy goes to the first maximum of each window (recomputed from x: tfjs keeps no indices). The arg-max
// runs over the channels (innermost in NHWC), 16 at a time with AVX-512 where the CPU has it. When windows never
// overlap (stride ≥ window, no dilation: LeNet's and most 2×2 pools) every input pixel belongs to at most one
// window, and each window writes its taps' gradients directly — dy or 0 — instead of zeroing dx and scattering
// into it. (An earlier form kept the per-channel maxima in memory: with 6 channels the overlapping group's load hit
// the previous group's store, a store-forwarding stall per window.)
Tensor max_pool_grad_nhwc(const Tensor& dy_in, const Tensor& x_in, const Window& win) {
  const Tensor x = x_in.contiguous();
  const Tensor dy = dy_in.contiguous();
  const PoolGeom g{x.size(0), x.size(1), x.size(2), x.size(3), win.oh, win.ow, win};
  const bool disjoint = win.dh == 1 && win.dw == 1 && win.kh <= win.sh && win.kw <= win.sw;
  // windows that tile x exactly write every element of dx
  const bool covers = disjoint && win.kh == win.sh && win.kw == win.sw && win.pt == 0 && win.pl == 0 &&
                      win.oh * win.sh == g.h && win.ow * win.sw == g.w;
  Tensor dx = covers ? at::empty(x.sizes(), x.options()) : at::zeros(x.sizes(), x.options());
  const float* in = x.data_ptr<float>();
  const float* gy = dy.data_ptr<float>();
  float* gx = dx.data_ptr<float>();
  const int64_t per_row = std::max<int64_t>(1, g.ow * g.c * win.kh * win.kw);
  // LWI_NO_AVX512 (set when the process starts) takes the path of CPUs without it (tests/backend-torch/fallback.test.ts)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && std::getenv("LWI_NO_AVX512") == nullptr;
  const int64_t in_n = x.numel();
  at::parallel_for(0, g.n * g.oh, std::max<int64_t>(1, at::internal::GRAIN_SIZE / per_row), [&](int64_t b, int64_t e) {
    // A window inside x has every tap, at fixed distances from its first: computed once, not per window (the
    // bounds-checked walk cost as much as the arg-max itself).
    const int32_t all = static_cast<int32_t>(win.kh * win.kw);
    std::vector<int64_t> offs_(all), delta_(all);
    int64_t* offs = offs_.data();
    int64_t* delta = delta_.data();
    for (int64_t i = 0; i < win.kh; ++i) {
      for (int64_t j = 0; j < win.kw; ++j) delta[i * win.kw + j] = (i * win.dh * g.w + j * win.dw) * g.c;
    }
    const int64_t span_h = (win.kh - 1) * win.dh, span_w = (win.kw - 1) * win.dw;
    for (int64_t row = b; row < e; ++row) {
      const int64_t n = row / g.oh, r = row % g.oh;
      const int64_t top = r * win.sh - win.pt;
      const bool rows_inside = top >= 0 && top + span_h < g.h;
      for (int64_t col = 0; col < g.ow; ++col) {
        const int64_t left = col * win.sw - win.pl;
        int32_t taps = 0;
        if (rows_inside && left >= 0 && left + span_w < g.w) {
          const int64_t base = ((n * g.h + top) * g.w + left) * g.c;
          for (int32_t t = 0; t < all; ++t) offs[t] = base + delta[t];
          taps = all;
        } else {
          g.for_window(r, col, [&](int64_t ih, int64_t iw) { offs[taps++] = ((n * g.h + ih) * g.w + iw) * g.c; });
        }
        const float* d = gy + ((n * g.oh + r) * g.ow + col) * g.c;
        if (avx512) {
          pool_grad_avx512(in, in_n, offs, taps, g.c, d, gx, disjoint);
        } else {
          pool_grad_scalar(in, offs, taps, g.c, d, gx, disjoint);
        }
      }
    }
  });
  return dx;
}

}  // namespace lwi
