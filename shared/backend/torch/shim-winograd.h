// Winograd F(2×2, 3×3) convolutions (included by shim.cpp): 3×3, stride 1, undilated, float NHWC, any padding.
//
// ResNet18 with the small stem spends most of its step in 3×3 stride-1 convolutions (28×28×64 up to 4×4×512),
// where oneDNN's direct convolution and the tap GEMM (shim-conv.h) already run near the core's peak: fewer
// multiplications is what is left. Lavin & Gray (2016): a 2×2 output tile of a 3×3 convolution is
//   Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A        d: the 4×4 input patch, g: the 3×3 filter
// so with the filter transformed once (U = G g Gᵀ, 16 [out, in] matrices) and each tile's patch transformed
// (V = Bᵀ d B, 16 rows of `in` values), a pass is 16 GEMMs of [tiles, in]·[in, out] — 16 products per tile
// and channel pair instead of 36 — and a cheap transform back (Aᵀ M A). The transforms' entries are 0, ±1 and ½:
// no precision is lost beyond the reordered sums.
//
//   forward        y  = tiles of Aᵀ [U ⊙ V(x)] A
//   input grad     dx = the forward pass over dy with the flipped, transposed filter; flipping g swaps rows 0 and
//                       3 of G, so its U is U with positions 0 ↔ 3 swapped along both axes (no new transform)
//   filter grad    dU = Σ over tiles (A dY Aᵀ) ⊙ V(x), one GEMM [out, tiles]·[tiles, in] per position;
//                  dg = Gᵀ dU G
// Tiles are processed in blocks sized to stay in L2; blocks run on the threads of ATen's pool, each block's 16
// GEMMs on its own thread (forward, input grad) or the 16 GEMMs of a block spread over the threads (filter grad,
// which accumulates over blocks in a fixed order, so results do not depend on the thread count's schedule).
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "shim-conv.h"
#include "shim-layout.h"
#include "shim-loops.h"

namespace lwi {
using at::Tensor;

// A 3×3 convolution's tiling: input [n, h, w, ·] read with top/left padding (pt, pl), output [n, oh, ow, ·] in 2×2
// tiles; tile (a, b) reads input rows 2a − pt … 2a − pt + 3 and columns 2b − pl … 2b − pl + 3 (zero outside).
struct WinoGeom {
  int64_t n, h, w, oh, ow, pt, pl;
  int64_t th() const { return (oh + 1) / 2; }
  int64_t tw() const { return (ow + 1) / 2; }
  int64_t tiles() const { return n * th() * tw(); }
};

// Bᵀ d B for one tile, `c` channels: p[4r + s] points at the patch's pixel (r, s) (or at zeros); writes plane k
// of the 16 at out + k·ld.
__attribute__((target_clones("avx512f", "avx2", "default"))) void wino_in_tile(const float* const* p, int64_t c,
                                                                               float* __restrict out, int64_t ld) {
  const float* q[16];
  for (int k = 0; k < 16; ++k) q[k] = p[k];
  #pragma omp simd
  for (int64_t j = 0; j < c; ++j) {
    float t[4][4];
    for (int s = 0; s < 4; ++s) {
      const float d0 = q[s][j], d1 = q[4 + s][j], d2 = q[8 + s][j], d3 = q[12 + s][j];
      t[0][s] = d0 - d2;
      t[1][s] = d1 + d2;
      t[2][s] = d2 - d1;
      t[3][s] = d1 - d3;
    }
    for (int r = 0; r < 4; ++r) {
      out[(4 * r + 0) * ld + j] = t[r][0] - t[r][2];
      out[(4 * r + 1) * ld + j] = t[r][1] + t[r][2];
      out[(4 * r + 2) * ld + j] = t[r][2] - t[r][1];
      out[(4 * r + 3) * ld + j] = t[r][1] - t[r][3];
    }
  }
}

// Aᵀ M A for one tile, `c` channels: plane k of M at m + k·ld; y[2u + v] receives output pixel (u, v) (+ bias).
template <bool kBias>
__attribute__((always_inline)) inline void wino_out_body(const float* __restrict m, int64_t ld, int64_t c,
                                                         const float* bias, float* const* y) {
  float* y0 = y[0];
  float* y1 = y[1];
  float* y2 = y[2];
  float* y3 = y[3];
  #pragma omp simd
  for (int64_t j = 0; j < c; ++j) {
    float a0[4], a1[4];  // Aᵀ applied along each row r: a0[r] = m[r][0] + m[r][1] + m[r][2], a1[r] = m[r][1] − m[r][2] − m[r][3]
    for (int r = 0; r < 4; ++r) {
      const float m0 = m[(4 * r) * ld + j], m1 = m[(4 * r + 1) * ld + j], m2 = m[(4 * r + 2) * ld + j],
                  m3 = m[(4 * r + 3) * ld + j];
      a0[r] = m0 + m1 + m2;
      a1[r] = m1 - m2 - m3;
    }
    const float b = kBias ? bias[j] : 0.0f;
    const float v00 = a0[0] + a0[1] + a0[2], v01 = a1[0] + a1[1] + a1[2];
    const float v10 = a0[1] - a0[2] - a0[3], v11 = a1[1] - a1[2] - a1[3];
    y0[j] = kBias ? v00 + b : v00;
    y1[j] = kBias ? v01 + b : v01;
    y2[j] = kBias ? v10 + b : v10;
    y3[j] = kBias ? v11 + b : v11;
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void wino_out_tile(const float* __restrict m, int64_t ld,
                                                                                int64_t c, const float* bias,
                                                                                float* const* y) {
  if (bias != nullptr) {
    wino_out_body<true>(m, ld, c, bias, y);
  } else {
    wino_out_body<false>(m, ld, c, bias, y);
  }
}

// A dY Aᵀ for one tile, `c` channels: y[2u + v] points at output pixel (u, v)'s gradient (or at zeros).
__attribute__((target_clones("avx512f", "avx2", "default"))) void wino_grad_tile(const float* const* y, int64_t c,
                                                                                 float* __restrict out, int64_t ld) {
  const float* y0 = y[0];
  const float* y1 = y[1];
  const float* y2 = y[2];
  const float* y3 = y[3];
  #pragma omp simd
  for (int64_t j = 0; j < c; ++j) {
    // A = [[1, 0], [1, 1], [1, −1], [0, −1]]: column v of row r is A[r]·(y[0][v], y[1][v]).
    const float c0[4] = {y0[j], y0[j] + y2[j], y0[j] - y2[j], -y2[j]};  // column 0 over rows
    const float c1[4] = {y1[j], y1[j] + y3[j], y1[j] - y3[j], -y3[j]};  // column 1 over rows
    for (int r = 0; r < 4; ++r) {
      out[(4 * r + 0) * ld + j] = c0[r];
      out[(4 * r + 1) * ld + j] = c0[r] + c1[r];
      out[(4 * r + 2) * ld + j] = c0[r] - c1[r];
      out[(4 * r + 3) * ld + j] = -c1[r];
    }
  }
}

// U[k][o][i] = (G g Gᵀ)[k] for every (o, i) of an OHWI filter f [co][3][3][ci], i = 0..ci−1 at once.
__attribute__((target_clones("avx512f", "avx2", "default"))) void wino_filter_row(const float* __restrict f,
                                                                                  int64_t ci, float* __restrict u,
                                                                                  int64_t ld) {
  #pragma omp simd
  for (int64_t j = 0; j < ci; ++j) {
    float t[4][3];  // G g: rows of G = [1 0 0], [½ ½ ½], [½ −½ ½], [0 0 1]
    for (int b = 0; b < 3; ++b) {
      const float g0 = f[b * ci + j], g1 = f[(3 + b) * ci + j], g2 = f[(6 + b) * ci + j];
      t[0][b] = g0;
      t[1][b] = 0.5f * (g0 + g1 + g2);
      t[2][b] = 0.5f * (g0 - g1 + g2);
      t[3][b] = g2;
    }
    for (int a = 0; a < 4; ++a) {
      u[(4 * a + 0) * ld + j] = t[a][0];
      u[(4 * a + 1) * ld + j] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
      u[(4 * a + 2) * ld + j] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
      u[(4 * a + 3) * ld + j] = t[a][2];
    }
  }
}

// dg = Gᵀ dU G for one output channel: dU plane k at du + k·ld, dg written OHWI ([3][3][ci] at g).
__attribute__((target_clones("avx512f", "avx2", "default"))) void wino_filter_grad_row(const float* __restrict du,
                                                                                       int64_t ld, int64_t ci,
                                                                                       float* __restrict g) {
  #pragma omp simd
  for (int64_t j = 0; j < ci; ++j) {
    float t[3][4];  // Gᵀ dU: rows of Gᵀ = [1 ½ ½ 0], [0 ½ −½ 0], [0 ½ ½ 1]
    for (int s = 0; s < 4; ++s) {
      const float d0 = du[s * ld + j], d1 = du[(4 + s) * ld + j], d2 = du[(8 + s) * ld + j], d3 = du[(12 + s) * ld + j];
      t[0][s] = d0 + 0.5f * (d1 + d2);
      t[1][s] = 0.5f * (d1 - d2);
      t[2][s] = 0.5f * (d1 + d2) + d3;
    }
    for (int a = 0; a < 3; ++a) {
      g[(3 * a + 0) * ci + j] = t[a][0] + 0.5f * (t[a][1] + t[a][2]);
      g[(3 * a + 1) * ci + j] = 0.5f * (t[a][1] - t[a][2]);
      g[(3 * a + 2) * ci + j] = 0.5f * (t[a][1] + t[a][2]) + t[a][3];
    }
  }
}

inline std::unique_ptr<float[]> floats(int64_t n) { return std::unique_ptr<float[]>(new float[std::max<int64_t>(n, 1)]); }

// Tiles per block: the block's transformed input and products (16 planes each) within 1 MiB (L2) where channels are
// few, at least 128 rows per GEMM where they are many (each call packs its [in, out] matrix), and a block per thread.
inline int64_t wino_block(int64_t tiles, int64_t c_in, int64_t c_out) {
  const int64_t fit = std::max<int64_t>(128, (int64_t{1} << 18) / (16 * (c_in + c_out)));
  const int64_t threads = at::get_num_threads();
  return std::max<int64_t>(1, std::min(fit, (tiles + threads - 1) / threads));
}

// The 16 transformed filters of an OHWI filter [co][3][3][ci]: U [16][co][ci].
inline Tensor wino_filter(const Tensor& wt_ohwi, int64_t co, int64_t ci) {
  Tensor u = at::empty({16, co, ci}, wt_ohwi.options());
  const float* f = wt_ohwi.data_ptr<float>();
  float* up = u.data_ptr<float>();
  at::parallel_for(0, co, 1, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) wino_filter_row(f + o * 9 * ci, ci, up + o * ci, co * ci);
  });
  return u;
}

// dst [n, oh, ow, cd] from src [n, h, w, cs]: per position k, M_k = V_k · U_k' where U_k' is U [16][co][ci] at
// position k (forward: cs = ci, cd = co, M_k = V_k U_kᵀ) or at the flipped position (input grad: cs = co, cd = ci,
// M_k = V_k U_flip(k)).
inline void wino_pass(const float* src, const WinoGeom& g, int64_t cs, int64_t cd, const float* u, bool flipped,
                      const float* bias, float* dst) {
  const int64_t tiles = g.tiles(), per_img = g.th() * g.tw();
  const int64_t tb = wino_block(tiles, cs, cd);
  const int64_t blocks = (tiles + tb - 1) / tb;
  const auto zeros = floats(cs);
  std::fill(zeros.get(), zeros.get() + cs, 0.0f);
  static constexpr int kFlip[4] = {3, 1, 2, 0};
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    const OneThread one(omp_in_parallel());  // this block's GEMMs on this thread
    const auto v = floats(16 * tb * cs), m = floats(16 * tb * cd), sink = floats(cd);
    const float* p[16];
    float* y[4];
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t t0 = blk * tb, rows = std::min(tb, tiles - t0);
      for (int64_t t = t0; t < t0 + rows; ++t) {
        const int64_t img = t / per_img, a = t % per_img / g.tw(), b = t % g.tw();
        for (int r = 0; r < 4; ++r) {
          const int64_t iy = 2 * a - g.pt + r;
          for (int s = 0; s < 4; ++s) {
            const int64_t ix = 2 * b - g.pl + s;
            const bool in = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            p[4 * r + s] = in ? src + ((img * g.h + iy) * g.w + ix) * cs : zeros.get();
          }
        }
        wino_in_tile(p, cs, v.get() + (t - t0) * cs, tb * cs);
      }
      for (int k = 0; k < 16; ++k) {
        const float* vk = v.get() + k * tb * cs;
        float* mk = m.get() + k * tb * cd;
        if (!flipped) {
          sgemm_or_throw(dnnl_sgemm(), 'N', 'T', rows, cd, cs, vk, cs, u + k * cd * cs, cs, 0.0f, mk, cd);
        } else {
          const int kf = 4 * kFlip[k / 4] + kFlip[k % 4];
          sgemm_or_throw(dnnl_sgemm(), 'N', 'N', rows, cd, cs, vk, cs, u + kf * cs * cd, cd, 0.0f, mk, cd);
        }
      }
      for (int64_t t = t0; t < t0 + rows; ++t) {
        const int64_t img = t / per_img, a = t % per_img / g.tw(), b = t % g.tw();
        for (int uu = 0; uu < 2; ++uu) {
          for (int vv = 0; vv < 2; ++vv) {
            const int64_t oy = 2 * a + uu, ox = 2 * b + vv;
            y[2 * uu + vv] = oy < g.oh && ox < g.ow ? dst + ((img * g.oh + oy) * g.ow + ox) * cd : sink.get();
          }
        }
        wino_out_tile(m.get() + (t - t0) * cd, tb * cd, cd, bias, y);
      }
    }
  });
}

// Whether a convolution can run as Winograd F(2×2, 3×3) here: float NHWC, not depthwise, oneDNN's sgemm present,
// a 3×3 stride-1 undilated window.
inline bool wino_applies(const Tensor& x, const Tensor& f, const Window& win, bool depthwise, bool nchw) {
  if (depthwise || nchw || dnnl_sgemm() == nullptr) return false;
  if (x.scalar_type() != at::kFloat || f.scalar_type() != at::kFloat || x.numel() == 0 || f.numel() == 0) return false;
  return win.kh == 3 && win.kw == 3 && win.sh == 1 && win.sw == 1 && win.dh == 1 && win.dw == 1 && win.oh > 0 &&
         win.ow > 0;
}

// Whether this pass runs as Winograd: where it applies, forced (conv_algorithm() 3), or by its shape rule in the
// default (0; 4 = the default without Winograd, the rule before it, for A/B runs). Timed as whole training steps,
// `bench/replay-ab.ts --ab conv` (BENCHMARKS.md, 2026-12-03 17:45–17:55, load 1.3–3.8): ResNet18 small stem on/off
// 1.35× at batch 32, 1 thread; 1.25× / 1.16× at batch 32 / 128, 2 threads; ImageNet stem 1.08× / 1.02× / 1.17×
// (medians of 3 alternating rounds). Outputs of at least 4×4 with 64 channels or more on both sides — where a 2×2 tile's 16
// products replace 36 (fewer at the borders for the tap GEMM) over enough channels that the transforms are cheap
// beside the GEMMs. Never with 1 or 2 (tap GEMM / ATen forced).
inline bool use_winograd(const Tensor& x, const Tensor& f, const Window& win, bool depthwise, bool nchw, int64_t in_ch,
                         int64_t out_ch) {
  if (!wino_applies(x, f, win, depthwise, nchw)) return false;
  const int mode = conv_algorithm();
  if (mode == 3) return true;
  if (mode != 0) return false;
  return win.oh >= 4 && win.ow >= 4 && in_ch >= 64 && out_ch >= 64;
}

// y = conv(x, filter) (+ bias) as NHWC [n, oh, ow, co]. x: NHWC, filter: HWIO view (converted to OHWI storage in
// place). `bias`: a float [co] vector added inside the output transform, or null.
inline Tensor wino_forward(const Tensor& x_in, Tensor& filter, const Window& win, const Tensor* bias) {
  const Tensor x = x_in.contiguous();
  const Tensor wt = filter_to_weight(filter).permute({0, 2, 3, 1});  // [co, 3, 3, ci], contiguous
  const int64_t co = wt.size(0), ci = x.size(3);
  const WinoGeom g{x.size(0), x.size(1), x.size(2), win.oh, win.ow, win.pt, win.pl};
  const Tensor u = wino_filter(wt, co, ci);
  Tensor y = at::empty({g.n, win.oh, win.ow, co}, x.options());
  const Tensor b = bias != nullptr ? bias->contiguous() : Tensor();
  wino_pass(x.data_ptr<float>(), g, ci, co, u.data_ptr<float>(), false, b.defined() ? b.data_ptr<float>() : nullptr,
            y.data_ptr<float>());
  return y;
}

// dx (NHWC [n, h, w, ci]) from dy (NHWC [n, oh, ow, co]) and the filter: the forward pass over dy with the flipped
// filter, whose padding is 2 − pt on top and 2 − pl on the left.
inline Tensor wino_backprop_input(const Tensor& dy_in, Tensor& filter, const Window& win, int64_t n, int64_t h,
                                  int64_t w, int64_t ci) {
  const Tensor dy = dy_in.contiguous();
  const Tensor wt = filter_to_weight(filter).permute({0, 2, 3, 1});
  const int64_t co = wt.size(0);
  const WinoGeom g{n, win.oh, win.ow, h, w, 2 - win.pt, 2 - win.pl};
  const Tensor u = wino_filter(wt, co, ci);
  Tensor dx = at::empty({n, h, w, ci}, dy.options());
  wino_pass(dy.data_ptr<float>(), g, co, ci, u.data_ptr<float>(), true, nullptr, dx.data_ptr<float>());
  return dx;
}

// dfilter (HWIO view of OHWI storage, [3, 3, ci, co]) from x (NHWC [n, h, w, ci]) and dy (NHWC [n, oh, ow, co]).
inline Tensor wino_backprop_filter(const Tensor& x_in, const Tensor& dy_in, const Window& win, int64_t co) {
  const Tensor x = x_in.contiguous();
  const Tensor dy = dy_in.contiguous();
  const int64_t ci = x.size(3);
  const WinoGeom g{x.size(0), x.size(1), x.size(2), win.oh, win.ow, win.pt, win.pl};
  const int64_t tiles = g.tiles(), per_img = g.th() * g.tw();
  // Larger blocks than the forward pass: every block reads and writes all 16 planes of dU.
  const int64_t tb = std::max<int64_t>(256, (int64_t{1} << 19) / (16 * (ci + co)));
  Tensor du = at::empty({16, co, ci}, x.options());
  const auto v = floats(16 * tb * ci), d = floats(16 * tb * co), zx = floats(ci), zy = floats(co);
  std::fill(zx.get(), zx.get() + ci, 0.0f);
  std::fill(zy.get(), zy.get() + co, 0.0f);
  const float* xp = x.data_ptr<float>();
  const float* dyp = dy.data_ptr<float>();
  float* dup = du.data_ptr<float>();
  for (int64_t t0 = 0; t0 < tiles; t0 += tb) {
    const int64_t rows = std::min(tb, tiles - t0);
    at::parallel_for(t0, t0 + rows, 16, [&](int64_t b, int64_t e) {
      const float* p[16];
      const float* q[4];
      for (int64_t t = b; t < e; ++t) {
        const int64_t img = t / per_img, a = t % per_img / g.tw(), c = t % g.tw();
        for (int r = 0; r < 4; ++r) {
          const int64_t iy = 2 * a - g.pt + r;
          for (int s = 0; s < 4; ++s) {
            const int64_t ix = 2 * c - g.pl + s;
            p[4 * r + s] = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? xp + ((img * g.h + iy) * g.w + ix) * ci : zx.get();
          }
        }
        for (int uu = 0; uu < 2; ++uu) {
          for (int vv = 0; vv < 2; ++vv) {
            const int64_t oy = 2 * a + uu, ox = 2 * c + vv;
            q[2 * uu + vv] = oy < g.oh && ox < g.ow ? dyp + ((img * g.oh + oy) * g.ow + ox) * co : zy.get();
          }
        }
        wino_in_tile(p, ci, v.get() + (t - t0) * ci, tb * ci);
        wino_grad_tile(q, co, d.get() + (t - t0) * co, tb * co);
      }
    });
    const float beta = t0 == 0 ? 0.0f : 1.0f;
    at::parallel_for(0, 16, 1, [&](int64_t kb, int64_t ke) {
      const OneThread one(omp_in_parallel());  // this block's GEMMs on this thread
      for (int64_t k = kb; k < ke; ++k) {
        sgemm_or_throw(dnnl_sgemm(), 'T', 'N', co, ci, rows, d.get() + k * tb * co, co, v.get() + k * tb * ci, ci, beta,
                       dup + k * co * ci, ci);
      }
    });
  }
  Tensor dw = at::empty({co, 3, 3, ci}, x.options());
  float* dwp = dw.data_ptr<float>();
  at::parallel_for(0, co, 1, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) wino_filter_grad_row(dup + o * ci, co * ci, ci, dwp + o * 9 * ci);
  });
  return dw.permute({1, 2, 3, 0});
}

}  // namespace lwi
