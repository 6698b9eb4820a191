// Hand-written loops for the shim (included by shim.cpp), where ATen is slow for tfjs's shapes: Step, max pooling
// on NHWC data, the one-pass SGD update, and matrix products through oneDNN's sgemm.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "shim-layout.h"

namespace lwi {
using at::Tensor;

// tfjs Step: 1 where x > 0, alpha elsewhere, NaN stays NaN. (ATen's `where` with broadcast scalars: 60× slower.)
Tensor step(const Tensor& a, double alpha) {
  if (a.scalar_type() != at::kFloat) {
    const Tensor y = at::where(a > 0, at::scalar_tensor(1, a.options()), at::scalar_tensor(alpha, a.options()));
    return y;
  }
  const Tensor x = a.contiguous();
  Tensor y = at::empty(x.sizes(), x.options());
  const float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const float al = static_cast<float>(alpha);
  at::parallel_for(0, x.numel(), 32768, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float v = in[i];
      out[i] = v > 0 ? 1.0f : (v != v ? v : al);
    }
  });
  return y;
}

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

// MaxPoolGrad: dy goes to the first maximum of each window (recomputed from x). The arg-max runs branch-free over
// the channels (which tap won, per channel), so it vectorises: 3.2 ms → 0.4 ms for ResNet18's stem pool.
Tensor max_pool_grad_nhwc(const Tensor& dy_in, const Tensor& x_in, const Window& win) {
  const Tensor x = x_in.contiguous();
  const Tensor dy = dy_in.contiguous();
  const PoolGeom g{x.size(0), x.size(1), x.size(2), x.size(3), win.oh, win.ow, win};
  Tensor dx = at::zeros(x.sizes(), x.options());
  const float* in = x.data_ptr<float>();
  const float* gy = dy.data_ptr<float>();
  float* gx = dx.data_ptr<float>();
  const float ninf = -std::numeric_limits<float>::infinity();
  at::parallel_for(0, g.n, 1, [&](int64_t b, int64_t e) {
    std::vector<float> best_(g.c);
    std::vector<int32_t> tap_(g.c);  // index into `offs` of the winning tap, -1 while none won
    std::vector<int64_t> offs;
    offs.reserve(win.kh * win.kw);
    float* best = best_.data();
    int32_t* tap = tap_.data();
    for (int64_t n = b; n < e; ++n) {
      for (int64_t r = 0; r < g.oh; ++r) {
        for (int64_t col = 0; col < g.ow; ++col) {
          std::fill(best, best + g.c, ninf);
          std::fill(tap, tap + g.c, -1);
          offs.clear();
          g.for_window(r, col, [&](int64_t ih, int64_t iw) {
            const int64_t off = ((n * g.h + ih) * g.w + iw) * g.c;
            const int32_t t = static_cast<int32_t>(offs.size());
            offs.push_back(off);
            const float* p = in + off;
            // strictly greater: ties keep the first, NaN never wins (4 channels at a time: GCC keeps a branch here)
            const __m128i t4 = _mm_set1_epi32(t);
            int64_t k = 0;
            for (; k + 4 <= g.c; k += 4) {
              const __m128 v = _mm_loadu_ps(p + k), bv = _mm_loadu_ps(best + k);
              const __m128 m = _mm_cmpgt_ps(v, bv);
              const __m128i mi = _mm_castps_si128(m);
              _mm_storeu_ps(best + k, _mm_or_ps(_mm_and_ps(m, v), _mm_andnot_ps(m, bv)));
              const __m128i tv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tap + k));
              _mm_storeu_si128(reinterpret_cast<__m128i*>(tap + k), _mm_or_si128(_mm_and_si128(mi, t4), _mm_andnot_si128(mi, tv)));
            }
            for (; k < g.c; ++k) {
              if (p[k] > best[k]) {
                best[k] = p[k];
                tap[k] = t;
              }
            }
          });
          const float* d = gy + ((n * g.oh + r) * g.ow + col) * g.c;
          for (int64_t k = 0; k < g.c; ++k) {
            if (tap[k] >= 0) gx[offs[tap[k]] + k] += d[k];
          }
        }
      }
    }
  });
  return dx;
}

// One SGD step in one pass over the weights (torch.optim.SGD's rule, as shared/train/optim.ts writes it in tfjs ops):
//   v' = μ·v + g;  w' = w − lr·v'        (with velocity)
//   w' = w − lr·g                        (without)
// Each product and sum is rounded to float on its own, exactly as the separate tfjs ops (mul, add, sub) round them:
// no fused multiply-add. w, g and v must be float, same shape and same strides, non-overlapping and dense (the
// caller aligns them); results get w's strides, so a filter stored OHWI stays OHWI.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
void sgd_loop(const float* __restrict w, const float* __restrict g, const float* __restrict v, float* __restrict w_out,
              float* __restrict v_out, int64_t n, float lr, float mu) {
  at::parallel_for(0, n, 65536, [&](int64_t b, int64_t e) {
    if (v != nullptr) {
      for (int64_t i = b; i < e; ++i) {
        const float m = mu * v[i];
        const float vn = m + g[i];
        const float step = vn * lr;
        v_out[i] = vn;
        w_out[i] = w[i] - step;
      }
    } else {
      for (int64_t i = b; i < e; ++i) {
        const float step = g[i] * lr;
        w_out[i] = w[i] - step;
      }
    }
  });
}
#pragma GCC pop_options

// x with `like`'s strides (a copy unless it has them already).
Tensor with_strides_of(const Tensor& x, const Tensor& like) {
  if (x.strides() == like.strides()) return x;
  return at::empty_strided(like.sizes(), like.strides(), like.options()).copy_(x);
}

// Returns w'; sets v_out to v' when v is given.
Tensor sgd_update(const Tensor& w_in, const Tensor& g_in, const Tensor* v_in, double lr, double momentum,
                  Tensor& v_out) {
  const auto check = [&](const Tensor& t, const char* what) {
    if (t.scalar_type() != at::kFloat) throw std::runtime_error(std::string("sgd_update: ") + what + " is not float32");
    if (t.sizes() != w_in.sizes()) throw std::runtime_error(std::string("sgd_update: ") + what + "'s shape differs from the weight's");
  };
  check(w_in, "the weight");
  check(g_in, "the gradient");
  if (v_in != nullptr) check(*v_in, "the velocity");
  const Tensor w = w_in.is_non_overlapping_and_dense() ? w_in : w_in.contiguous();
  const Tensor g = with_strides_of(g_in, w);
  const Tensor v = v_in != nullptr ? with_strides_of(*v_in, w) : Tensor();
  Tensor w_new = at::empty_strided(w.sizes(), w.strides(), w.options());
  if (v_in != nullptr) v_out = at::empty_strided(w.sizes(), w.strides(), w.options());
  sgd_loop(w.data_ptr<float>(), g.data_ptr<float>(), v_in != nullptr ? v.data_ptr<float>() : nullptr,
           w_new.data_ptr<float>(), v_in != nullptr ? v_out.data_ptr<float>() : nullptr, w.numel(),
           static_cast<float>(lr), static_cast<float>(momentum));
  return w_new;
}

// Matrix products through oneDNN's sgemm (JIT, AVX-512 here) when libtorch loaded oneDNN as a shared library
// (Debian's does; ATen itself would call the system's reference BLAS, ~20× slower for dense layers).
using Sgemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                      float, float*, int64_t);
Sgemm dnnl_sgemm() {
  static const Sgemm fn = [] {
    void* lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_NOLOAD);
    void* sym = lib != nullptr ? dlsym(lib, "dnnl_sgemm") : dlsym(RTLD_DEFAULT, "dnnl_sgemm");
    return reinterpret_cast<Sgemm>(sym);
  }();
  return fn;
}

// A 2-D float matrix as BLAS sees it: row-major storage, maybe transposed, with a leading dimension.
struct BlasMat {
  char trans;
  int64_t ld;
};
bool blas_view(const Tensor& m, BlasMat& out) {  // m: [rows, cols] (logical)
  const int64_t rows = m.size(0), cols = m.size(1), s0 = m.stride(0), s1 = m.stride(1);
  if (s1 == 1 || cols == 1) {
    const int64_t ld = rows == 1 ? std::max<int64_t>(cols, 1) : s0;
    if (ld >= std::max<int64_t>(cols, 1)) { out = {'N', ld}; return true; }
  }
  if (s0 == 1 || rows == 1) {
    const int64_t ld = cols == 1 ? std::max<int64_t>(rows, 1) : s1;
    if (ld >= std::max<int64_t>(rows, 1)) { out = {'T', ld}; return true; }
  }
  return false;
}

// y = a @ b (+ bias), a: [..., M, K], b: [..., K, N] with equal batch dims (or none), float32. Returns an undefined
// tensor when oneDNN is missing or the operands do not fit, so the caller falls back to ATen.
Tensor gemm(const Tensor& a_in, const Tensor& b_in, const Tensor* bias) {
  const Sgemm sgemm = dnnl_sgemm();
  if (sgemm == nullptr || a_in.scalar_type() != at::kFloat || b_in.scalar_type() != at::kFloat) return Tensor();
  if (a_in.dim() < 2 || a_in.dim() != b_in.dim()) return Tensor();
  for (int64_t d = 0; d + 2 < a_in.dim(); ++d) {
    if (a_in.size(d) != b_in.size(d)) return Tensor();
  }
  const int64_t m = a_in.size(-2), k = a_in.size(-1), n = b_in.size(-1);
  if (m == 0 || n == 0 || k == 0) return Tensor();
  const Tensor a = a_in.reshape({-1, m, k}), b = b_in.reshape({-1, k, n});
  const int64_t batch = a.size(0);
  std::vector<int64_t> out_shape(a_in.sizes().begin(), a_in.sizes().end());
  out_shape.back() = n;
  Tensor y;
  float beta = 0.0f;
  if (bias != nullptr) {
    y = bias->to(at::kFloat).expand(out_shape).contiguous();
    beta = 1.0f;
  } else {
    y = at::empty(out_shape, a.options());
  }
  const Tensor y3 = y.view({batch, m, n});
  for (int64_t i = 0; i < batch; ++i) {
    const Tensor ai = a[i], bi = b[i];
    BlasMat ba, bb;
    if (!blas_view(ai, ba) || !blas_view(bi, bb)) return Tensor();
    const int st = sgemm(ba.trans, bb.trans, m, n, k, 1.0f, ai.data_ptr<float>(), ba.ld, bi.data_ptr<float>(), bb.ld,
                         beta, y3[i].data_ptr<float>(), n);
    if (st != 0) throw std::runtime_error("dnnl_sgemm failed with status " + std::to_string(st));
  }
  return y;
}

}  // namespace lwi
