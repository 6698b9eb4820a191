// Hand-written loops for the shim (included by shim.cpp), where ATen is slow for tfjs's shapes: Step, bias-gradient
// sums, the one-pass SGD update, and matrix products through oneDNN's sgemm. (Max pooling: shim-pool.h.)
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "shim-layout.h"

namespace lwi {
using at::Tensor;

// tfjs Step: 1 where x > 0, alpha elsewhere, NaN stays NaN. (ATen's `where` with broadcast scalars: 60× slower.)
// Written as selects so that GCC vectorises it, once per instruction set (target_clones: the loader picks the
// widest the CPU has). Before, the nested conditional compiled to a branch on the sign, mispredicted on every
// other element of a ReLU's input (5 ns per float).
__attribute__((target_clones("avx512f", "avx2", "default"))) void step_loop(const float* __restrict in,
                                                                            float* __restrict out, int64_t n,
                                                                            float alpha) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i];
    const float r = v > 0 ? 1.0f : alpha;
    out[i] = v != v ? v : r;
  }
}

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
  at::parallel_for(0, x.numel(), at::internal::GRAIN_SIZE, [&](int64_t b, int64_t e) { step_loop(in + b, out + b, e - b, al); });
  return y;
}

// out[j] += Σ_r x[r·w + j] over `rows` rows of width w (w ≤ 1024): float partial sums over blocks of 256 rows,
// added into double totals (vectorised, once per instruction set).
__attribute__((target_clones("avx512f", "avx2", "default"))) void column_sums(const float* __restrict x, int64_t rows,
                                                                              int64_t w, double* __restrict out) {
  float acc[1024];
  for (int64_t r0 = 0; r0 < rows; r0 += 256) {
    const int64_t r1 = std::min(rows, r0 + 256);
    for (int64_t j = 0; j < w; ++j) acc[j] = 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = x + r * w;
      for (int64_t j = 0; j < w; ++j) acc[j] += row[j];
    }
    for (int64_t j = 0; j < w; ++j) out[j] += acc[j];
  }
}

// Sum over the leading `k` axes of a contiguous float tensor (a bias gradient: NHWC summed over N, H, W), i.e. the
// column sums of a [rows, c] matrix. ATen reduces 6 or 16 columns over 25k rows at a third of memory speed; here m
// rows at a time form one row of w = m·c floats (a multiple of 16), summed down with `column_sums`, then folded
// back to c columns. Accumulates in double past blocks of 256, closer to tfjs's cpu backend (which sums in double)
// than ATen's float cascade. Returns an undefined tensor where it does not apply.
Tensor sum_leading(const Tensor& x, int64_t k, bool keep) {
  if (x.scalar_type() != at::kFloat || !x.is_contiguous() || k <= 0 || k >= x.dim()) return Tensor();
  int64_t rows = 1, c = 1;
  for (int64_t d = 0; d < k; ++d) rows *= x.size(d);
  for (int64_t d = k; d < x.dim(); ++d) c *= x.size(d);
  if (c == 0 || c > 64 || rows * c < 4096) return Tensor();
  int64_t m = 1;
  while ((m * c) % 16 != 0 || m * c < 64) ++m;  // c ≤ 64: w = m·c ≤ 16·64
  const int64_t w = m * c, groups = rows / m;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows * c / at::internal::GRAIN_SIZE));
  std::vector<double> part(parts * w, 0.0);
  const float* in = x.data_ptr<float>();
  at::parallel_for(0, parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const int64_t g0 = groups * p / parts, g1 = groups * (p + 1) / parts;
      column_sums(in + g0 * w, g1 - g0, w, part.data() + p * w);
    }
  });
  std::vector<double> total(c, 0.0);
  for (int64_t p = 0; p < parts; ++p) {
    for (int64_t j = 0; j < w; ++j) total[j % c] += part[p * w + j];
  }
  for (int64_t r = groups * m; r < rows; ++r) {  // the rows left over
    for (int64_t j = 0; j < c; ++j) total[j] += in[r * c + j];
  }
  std::vector<int64_t> shape(x.sizes().begin() + k, x.sizes().end());
  if (keep) shape.insert(shape.begin(), k, 1);
  Tensor y = at::empty(shape, x.options());
  float* out = y.data_ptr<float>();
  for (int64_t j = 0; j < c; ++j) out[j] = static_cast<float>(total[j]);
  return y;
}

// One SGD step in one pass over the weights (torch.optim.SGD's rule, as shared/train/optim.ts writes it in tfjs ops):
//   v' = μ·v + g;  w' = w − lr·v'        (with velocity)
//   w' = w − lr·g                        (without)
// Each product and sum is rounded to float on its own, exactly as the separate tfjs ops (mul, add, sub) round them:
// no fused multiply-add. w, g and v must be float, same shape and same strides, non-overlapping and dense (the
// caller aligns them); results get w's strides, so a filter stored OHWI stays OHWI.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
// Vectorised once per instruction set (the loops inside the parallel_for lambda were not: GCC gave up on the
// captured pointers); fp-contract stays off in every clone.
__attribute__((target_clones("avx512f", "avx2", "default"))) void sgd_range(
    const float* __restrict w, const float* __restrict g, const float* __restrict v, float* __restrict w_out,
    float* __restrict v_out, int64_t n, float lr, float mu) {
  if (v != nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      const float m = mu * v[i];
      const float vn = m + g[i];
      const float step = vn * lr;
      v_out[i] = vn;
      w_out[i] = w[i] - step;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float step = g[i] * lr;
      w_out[i] = w[i] - step;
    }
  }
}

void sgd_loop(const float* w, const float* g, const float* v, float* w_out, float* v_out, int64_t n, float lr,
              float mu) {
  at::parallel_for(0, n, at::internal::GRAIN_SIZE, [&](int64_t b, int64_t e) {
    sgd_range(w + b, g + b, v != nullptr ? v + b : nullptr, w_out + b, v_out != nullptr ? v_out + b : nullptr, e - b, lr, mu);
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

// Runs the scope on one OpenMP thread when `when` holds (oneDNN's sgemm opens a parallel region for any size);
// restores the calling thread's team size.
struct OneThread {
  int saved = 0;
  explicit OneThread(bool when) {
    if (when && omp_get_max_threads() > 1) {
      saved = omp_get_max_threads();
      omp_set_num_threads(1);
    }
  }
  ~OneThread() {
    if (saved > 0) omp_set_num_threads(saved);
  }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;
};

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
  // A dense layer of LeNet (at most 1.5 M multiply-adds, ~30 µs) gains nothing from a second thread while waking it
  // costs more than the product (40 µs instead of 2 for 32×84·84×10 at 2 threads on a loaded machine,
  // bench/profile-ops.ts --peer): products under 2 M multiply-adds run on one thread.
  const OneThread serial(batch * m * n * k < (int64_t{1} << 21));
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
