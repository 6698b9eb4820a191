// The native half of the `torch` tfjs backend: a C ABI over ATen (libtorch's tensor library), loaded by
// ./native.ts with bun:ffi.
//
// A tensor crosses the boundary as an opaque `at::Tensor*` owned by JS (freed with lwi_free). Every op goes
// through one entry, `lwi_call(op, a, b, c)`: `op` indexes the table at the bottom (JS resolves names to indices
// once with lwi_op), a/b/c are input tensors (or null), and scalar arguments travel through a static exchange area
// (`ints`, `floats`, `ptrs`) that JS writes through typed-array views just before the call. The result's dtype and
// shape are written to `meta` so JS learns them without a second call. JS is single-threaded, so one static
// exchange area is enough. Errors never cross as C++ exceptions: the call returns null and lwi_error() says why.
//
// Layout: tensors keep tfjs's logical shape (NHWC for images, [fh, fw, in, out] for filters) with whatever strides
// ATen chose. Conv and pool kernels view their NHWC input as NCHW with a permute (free: an NHWC-contiguous tensor
// viewed that way is exactly ATen's channels_last format, which oneDNN convolves natively) and view the result
// back, so no layout copies happen between layers.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <dlfcn.h>
#include <immintrin.h>
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using at::Tensor;

namespace {

constexpr int kMaxRank = 32;
int32_t g_meta[2 + kMaxRank];  // dtype code, rank, shape...
int32_t g_ints[4096];
double g_floats[64];
double g_ptrs[4096];  // tensor pointers as doubles (exact below 2^53), the way JS holds them
std::string g_error;
int64_t g_live = 0;

// tfjs dtypes, as JS numbers them.
constexpr int kF32 = 0, kI32 = 1, kBool = 2;

at::ScalarType scalar_of(int code) {
  switch (code) {
    case kF32: return at::kFloat;
    case kI32: return at::kInt;
    case kBool: return at::kBool;
  }
  throw std::runtime_error("unknown dtype code " + std::to_string(code));
}

// ATen widens (int64 indices, int64 sums); tfjs has only float32/int32/bool.
Tensor to_tfjs_dtype(Tensor t) {
  switch (t.scalar_type()) {
    case at::kFloat: case at::kInt: case at::kBool: return t;
    case at::kDouble: case at::kHalf: case at::kBFloat16: return t.to(at::kFloat);
    case at::kLong: case at::kShort: case at::kChar: case at::kByte: return t.to(at::kInt);
    default: throw std::runtime_error(std::string("result dtype ") + c10::toString(t.scalar_type()) + " has no tfjs dtype");
  }
}

int code_of(at::ScalarType s) { return s == at::kFloat ? kF32 : s == at::kInt ? kI32 : kBool; }

Tensor* box(Tensor t) {
  t = to_tfjs_dtype(std::move(t));
  if (t.dim() > kMaxRank) throw std::runtime_error("rank above 32");
  g_meta[0] = code_of(t.scalar_type());
  g_meta[1] = static_cast<int32_t>(t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) g_meta[2 + i] = static_cast<int32_t>(t.size(i));
  ++g_live;
  return new Tensor(std::move(t));
}

std::vector<int64_t> ints(const int32_t* p, int n) { return std::vector<int64_t>(p, p + n); }

Tensor& ptr_at(int i) { return *reinterpret_cast<Tensor*>(static_cast<uintptr_t>(g_ptrs[i])); }

// ---- layout helpers -------------------------------------------------------------------------------------------

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
struct Padded {
  Tensor x;          // NCHW input, padded when `explicit_pad`
  int64_t ph, pw;    // padding to hand ATen
  bool explicit_pad; // if true, gradients wrt x must be cropped by (pt, pl)
  int64_t pt, pl;
};

Padded pad_for(const Tensor& x, const Window& w, double value, bool pool) {
  const int64_t pb = w.need_b(x.size(2)), pr = w.need_r(x.size(3));
  const bool symmetric = w.pt == pb && w.pl == pr;
  // ATen's pooling also requires padding ≤ half the (effective) window.
  const bool fits = !pool || (2 * w.pt <= (w.kh - 1) * w.dh + 1 && 2 * w.pl <= (w.kw - 1) * w.dw + 1);
  if (symmetric && fits) return {x, w.pt, w.pl, false, w.pt, w.pl};
  return {at::constant_pad_nd(x, {w.pl, pr, w.pt, pb}, value), 0, 0, true, w.pt, w.pl};
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

// ---- hand-written loops where ATen is slow for tfjs's shapes ---------------------------------------------------

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

// MaxPoolGrad: dy goes to the first maximum of each window (recomputed from x).
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
    std::vector<float> best(g.c);
    std::vector<int64_t> at_(g.c);
    for (int64_t n = b; n < e; ++n) {
      for (int64_t r = 0; r < g.oh; ++r) {
        for (int64_t col = 0; col < g.ow; ++col) {
          std::fill(best.begin(), best.end(), ninf);
          std::fill(at_.begin(), at_.end(), -1);
          g.for_window(r, col, [&](int64_t ih, int64_t iw) {
            const int64_t off = ((n * g.h + ih) * g.w + iw) * g.c;
            for (int64_t k = 0; k < g.c; ++k) {
              if (in[off + k] > best[k]) {
                best[k] = in[off + k];
                at_[k] = off + k;
              }
            }
          });
          const float* d = gy + ((n * g.oh + r) * g.ow + col) * g.c;
          for (int64_t k = 0; k < g.c; ++k) {
            if (at_[k] >= 0) gx[at_[k]] += d[k];
          }
        }
      }
    }
  });
  return dx;
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

// ---- ops ------------------------------------------------------------------------------------------------------

using OpFn = Tensor (*)(Tensor* const* in, const int32_t* I, const double* F);
struct Op {
  const char* name;
  OpFn fn;
};

#define A (*in[0])
#define B (*in[1])
#define C (*in[2])
#define HAS(i) (in[i] != nullptr)
#define EXPR(name, expr) {name, [](Tensor* const* in, const int32_t*, const double*) -> Tensor { return expr; }}
#define OP(name) {name, [](Tensor* const* in, const int32_t* I, const double* F) -> Tensor
#define END }

// Reductions: I = [n, axes..., keepDims].
template <typename Fn>
Tensor reduce_each(const Tensor& x, const int32_t* I, Fn fn) {
  const int n = I[0];
  const bool keep = I[n + 1] != 0;
  std::vector<int64_t> axes = ints(I + 1, n);
  std::sort(axes.begin(), axes.end(), std::greater<int64_t>());
  Tensor y = x;
  for (int64_t a : axes) y = fn(y, a, keep);
  return y;
}

Tensor mirror_index(int64_t n, int64_t before, int64_t after, bool symmetric) {
  std::vector<int64_t> idx;
  idx.reserve(n + before + after);
  const int64_t off = symmetric ? 1 : 0;
  for (int64_t i = -before; i < n + after; ++i) {
    int64_t j = i;
    if (j < 0) j = -j - off;
    if (j >= n) j = 2 * n - 2 - j + off;
    idx.push_back(j);
  }
  return at::tensor(idx, at::kLong);
}

const std::vector<Op>& ops() {
  static const std::vector<Op> table = {
      // elementwise, one input
      EXPR("identity", A),
      EXPR("neg", at::neg(A)),
      EXPR("abs", at::abs(A)),
      EXPR("sign", at::sign(A)),
      EXPR("sqrt", at::sqrt(A)),
      EXPR("rsqrt", at::rsqrt(A)),
      EXPR("square", at::square(A)),
      EXPR("exp", at::exp(A)),
      EXPR("expm1", at::expm1(A)),
      EXPR("log", at::log(A)),
      EXPR("log1p", at::log1p(A)),
      EXPR("sin", at::sin(A)),
      EXPR("cos", at::cos(A)),
      EXPR("tan", at::tan(A)),
      EXPR("asin", at::asin(A)),
      EXPR("acos", at::acos(A)),
      EXPR("atan", at::atan(A)),
      EXPR("sinh", at::sinh(A)),
      EXPR("cosh", at::cosh(A)),
      EXPR("tanh", at::tanh(A)),
      EXPR("asinh", at::asinh(A)),
      EXPR("acosh", at::acosh(A)),
      EXPR("atanh", at::atanh(A)),
      EXPR("sigmoid", at::sigmoid(A)),
      EXPR("relu", at::relu(A)),
      EXPR("relu6", at::clamp(A, 0, 6)),
      EXPR("elu", at::elu(A)),
      EXPR("selu", at::selu(A)),
      EXPR("softplus", at::softplus(A)),
      EXPR("ceil", at::ceil(A)),
      EXPR("floor", at::floor(A)),
      EXPR("round", at::round(A)),  // half to even, as tfjs
      EXPR("reciprocal", at::reciprocal(A)),
      EXPR("erf", at::erf(A)),
      EXPR("logical_not", at::logical_not(A)),
      EXPR("is_nan", at::isnan(A)),
      EXPR("is_inf", at::isinf(A)),
      EXPR("is_finite", at::isfinite(A)),
      EXPR("zeros_like", at::zeros_like(A, at::MemoryFormat::Contiguous)),
      EXPR("ones_like", at::ones_like(A, at::MemoryFormat::Contiguous)),
      EXPR("contiguous", A.contiguous()),
      // tfjs Step: 1 where x > 0, alpha elsewhere, NaN stays NaN.
      OP("step") { return step(A, F[0]); } END,
      OP("leaky_relu") { return at::where(A < 0, A * F[0], A); } END,
      OP("clip") { return at::clamp(A, F[0], F[1]); } END,
      OP("cast") { return A.to(scalar_of(I[0])); } END,

      // elementwise, two inputs (numpy broadcasting, as tfjs)
      EXPR("add", aligned(A, B, [](const Tensor& a, const Tensor& b) { return at::add(a, b); })),
      EXPR("sub", aligned(A, B, [](const Tensor& a, const Tensor& b) { return at::sub(a, b); })),
      EXPR("mul", aligned(A, B, [](const Tensor& a, const Tensor& b) { return at::mul(a, b); })),
      EXPR("div", aligned(A, B, [](const Tensor& a, const Tensor& b) { return at::div(a, b); })),
      EXPR("floor_div", at::div(A, B, "floor").to(at::kInt)),  // tfjs FloorDiv is int32 even for floats
      EXPR("mod", at::remainder(A, B)),  // sign of the divisor, as tfjs
      EXPR("pow", at::pow(A, B)),
      EXPR("maximum", aligned(A, B, [](const Tensor& a, const Tensor& b) { return at::maximum(a, b); })),
      EXPR("minimum", aligned(A, B, [](const Tensor& a, const Tensor& b) { return at::minimum(a, b); })),
      EXPR("squared_difference", aligned(A, B, [](const Tensor& a, const Tensor& b) { return at::square(a - b); })),
      EXPR("atan2", at::atan2(A, B)),
      EXPR("equal", at::eq(A, B)),
      EXPR("not_equal", at::ne(A, B)),
      EXPR("less", at::lt(A, B)),
      EXPR("less_equal", at::le(A, B)),
      EXPR("greater", at::gt(A, B)),
      EXPR("greater_equal", at::ge(A, B)),
      EXPR("logical_and", at::logical_and(A, B)),
      EXPR("logical_or", at::logical_or(A, B)),
      EXPR("logical_xor", at::logical_xor(A, B)),
      EXPR("prelu", at::where(A < 0, A * B, A)),
      // tfjs EluGrad(dy, y): dy where y ≥ 0, dy·(y + 1) elsewhere.
      EXPR("elu_grad", at::where(B < 0, A * (B + 1), A)),
      // Select(condition, t, e); a rank-1 condition picks rows of higher-rank t/e.
      OP("where") {
        Tensor c = A;
        if (c.dim() == 1 && B.dim() > 1) {
          std::vector<int64_t> s(B.dim(), 1);
          s[0] = c.size(0);
          c = c.view(s);
        }
        return at::where(c, B, C);
      } END,
      // AddN over ptrs[0..I[0])
      OP("add_n") {
        Tensor y = ptr_at(0);
        for (int i = 1; i < I[0]; ++i) y = at::add(y, ptr_at(i));
        return I[0] == 1 ? y.clone() : y;
      } END,

      // shapes and copies
      OP("reshape") { return A.reshape(ints(I + 1, I[0])); } END,
      OP("transpose") { return A.permute(ints(I + 1, I[0])); } END,
      OP("slice") {  // I = [rank, begin..., size...]
        const int r = I[0];
        Tensor y = A;
        for (int d = 0; d < r; ++d) {
          if (I[1 + d] != 0 || I[1 + r + d] != y.size(d)) y = y.narrow(d, I[1 + d], I[1 + r + d]);
        }
        return y;
      } END,
      OP("strided_slice") {  // I = [rank, (begin, stride, count) per dim..., outRank, outShape...]
        const int r = I[0];
        Tensor y = A;
        for (int d = 0; d < r; ++d) {
          const int64_t b = I[1 + 3 * d], s = I[2 + 3 * d], n = I[3 + 3 * d];
          if (s == 1) {
            if (b != 0 || n != y.size(d)) y = y.narrow(d, b, n);
          } else if (s > 0) {
            y = y.slice(d, b, b + (n - 1) * s + 1, s);
          } else {
            y = y.index_select(d, at::arange(b, b + n * s, s, at::kLong).narrow(0, 0, n));
          }
        }
        const int o = 1 + 3 * r;
        return y.reshape(ints(I + o + 1, I[o]));
      } END,
      OP("concat") {  // ptrs[0..I[0]), axis I[1]
        std::vector<Tensor> xs;
        for (int i = 0; i < I[0]; ++i) xs.push_back(ptr_at(i));
        return at::cat(xs, I[1]);
      } END,
      OP("stack") {
        std::vector<Tensor> xs;
        for (int i = 0; i < I[0]; ++i) xs.push_back(ptr_at(i));
        return at::stack(xs, I[1]);
      } END,
      OP("select") { return A.select(I[0], I[1]); } END,                   // dim, index (a view)
      OP("narrow") { return A.narrow(I[0], I[1], I[2]); } END,             // dim, start, length (a view)
      OP("tile") { return A.repeat(ints(I + 1, I[0])); } END,
      OP("reverse") { return at::flip(A, ints(I + 1, I[0])); } END,
      OP("pad") {  // I = [rank, (before, after) per dim...], F[0] = value
        const int r = I[0];
        std::vector<int64_t> p;
        for (int d = r - 1; d >= 0; --d) {
          p.push_back(I[1 + 2 * d]);
          p.push_back(I[2 + 2 * d]);
        }
        return at::constant_pad_nd(A, p, F[0]);
      } END,
      OP("mirror_pad") {  // I = [rank, (before, after) per dim..., symmetric]
        const int r = I[0];
        const bool sym = I[1 + 2 * r] != 0;
        Tensor y = A;
        for (int d = 0; d < r; ++d) {
          if (I[1 + 2 * d] == 0 && I[2 + 2 * d] == 0) continue;
          y = y.index_select(d, mirror_index(y.size(d), I[1 + 2 * d], I[2 + 2 * d], sym));
        }
        return y;
      } END,
      OP("gather") {  // x, indices; I = [axis, batchDims]
        const int64_t axis = I[0], bd = I[1];
        const Tensor idx = B.to(at::kLong);
        std::vector<int64_t> out;
        for (int64_t d = 0; d < axis; ++d) out.push_back(A.size(d));
        for (int64_t d = bd; d < idx.dim(); ++d) out.push_back(idx.size(d));
        for (int64_t d = axis + 1; d < A.dim(); ++d) out.push_back(A.size(d));
        if (bd == 0) return A.index_select(axis, idx.reshape({-1})).reshape(out);
        int64_t batch = 1, outer = 1, slice = 1;
        for (int64_t d = 0; d < bd; ++d) batch *= A.size(d);
        for (int64_t d = bd; d < axis; ++d) outer *= A.size(d);
        for (int64_t d = axis + 1; d < A.dim(); ++d) slice *= A.size(d);
        const int64_t n = idx.numel() / batch;
        const Tensor x4 = A.reshape({batch, outer, A.size(axis), slice});
        const Tensor i4 = idx.reshape({batch, 1, n, 1}).expand({batch, outer, n, slice});
        return at::gather(x4, 2, i4).reshape(out);
      } END,
      OP("one_hot") {  // indices; I = [depth, dtype]; F = [on, off]; out-of-range indices give a row of `off`
        const Tensor hit = A.unsqueeze(-1) == at::arange(I[0], A.options());
        const auto o = at::TensorOptions().dtype(scalar_of(I[1]));
        return at::where(hit, at::scalar_tensor(F[0], o), at::scalar_tensor(F[1], o));
      } END,
      OP("unsorted_segment_sum") {  // x, segmentIds; I = [numSegments]; ids outside [0, n) are dropped
        Tensor ids = B.reshape({-1}).to(at::kLong);
        std::vector<int64_t> rest = {-1};
        for (int64_t d = B.dim(); d < A.dim(); ++d) rest.push_back(A.size(d));
        Tensor x = A.reshape(rest);
        const Tensor ok = (ids >= 0).logical_and(ids < I[0]);
        if (!ok.all().item<bool>()) {
          const Tensor keep = at::nonzero(ok).squeeze(1);
          x = x.index_select(0, keep);
          ids = ids.index_select(0, keep);
        }
        rest[0] = I[0];
        return at::zeros(rest, A.options()).index_add_(0, ids, x);
      } END,
      OP("fill") {  // I = [rank, shape..., dtype]; F[0] = value
        return at::full(ints(I + 1, I[0]), F[0], at::TensorOptions().dtype(scalar_of(I[1 + I[0]])));
      } END,
      OP("range") {  // start + i·step for i < I[0], computed in double as tfjs does in JS
        return (at::arange(I[0], at::kDouble) * F[1] + F[0]).to(scalar_of(I[1]));
      } END,
      OP("linspace") { return at::linspace(F[0], F[1], I[0], at::kFloat); } END,

      // reductions: I = [n, axes..., keepDims]
      OP("sum") {
        if (I[0] == 0) return A.clone();
        return at::sum(A, ints(I + 1, I[0]), I[I[0] + 1] != 0);
      } END,
      OP("mean") {
        const Tensor x = A.is_floating_point() ? A : A.to(at::kFloat);
        if (I[0] == 0) return x.clone();
        return at::mean(x, ints(I + 1, I[0]), I[I[0] + 1] != 0);
      } END,
      OP("max") {
        if (I[0] == 0) return A.clone();
        return at::amax(A, ints(I + 1, I[0]), I[I[0] + 1] != 0);
      } END,
      OP("min") {
        if (I[0] == 0) return A.clone();
        return at::amin(A, ints(I + 1, I[0]), I[I[0] + 1] != 0);
      } END,
      OP("prod") {
        const Tensor x = A.scalar_type() == at::kBool ? A.to(at::kInt) : A;
        if (I[0] == 0) return x.clone();
        return reduce_each(x, I, [](const Tensor& y, int64_t a, bool k) { return at::prod(y, a, k); });
      } END,
      OP("all") {
        if (I[0] == 0) return A.clone();
        return reduce_each(A, I, [](const Tensor& y, int64_t a, bool k) { return at::all(y, a, k); });
      } END,
      OP("any") {
        if (I[0] == 0) return A.clone();
        return reduce_each(A, I, [](const Tensor& y, int64_t a, bool k) { return at::any(y, a, k); });
      } END,
      OP("argmax") { return at::argmax(A, I[0]); } END,
      OP("argmin") { return at::argmin(A, I[0]); } END,
      OP("cumsum") {  // I = [axis, exclusive, reverse]
        Tensor x = I[2] ? at::flip(A, {I[0]}) : A;
        Tensor y = at::cumsum(x, I[0]);
        if (I[1]) y = y - x;
        return I[2] ? at::flip(y, {I[0]}) : y;
      } END,
      OP("cumprod") {
        Tensor x = I[2] ? at::flip(A, {I[0]}) : A;
        Tensor y = at::cumprod(x, I[0]);
        if (I[1]) y = at::cat({at::ones_like(x.narrow(I[0], 0, 1)), y.narrow(I[0], 0, x.size(I[0]) - 1)}, I[0]);
        return I[2] ? at::flip(y, {I[0]}) : y;
      } END,

      // dense layers
      // a, b, bias?; I = [transposeA, transposeB, activation]; F[0] = leaky-ReLU alpha; ptrs[0] = PReLU weights
      OP("matmul") {
        const Tensor a = I[0] ? A.transpose(-1, -2) : A;
        const Tensor b = I[1] ? B.transpose(-1, -2) : B;
        Tensor y = gemm(a, b, HAS(2) ? &C : nullptr);
        if (y.defined()) {
        } else if (HAS(2) && a.dim() == 2 && b.dim() == 2) {
          y = at::addmm(C, a, b);
        } else {
          y = at::matmul(a, b);
          if (HAS(2)) y = y + C;
        }
        return activate(y, I[2], F[0], I[2] == kPrelu ? &ptr_at(0) : nullptr);
      } END,
      OP("softmax") { return at::softmax(A, I[0]); } END,
      OP("log_softmax") { return at::log_softmax(A, I[0]); } END,
      // FusedBatchNorm: x, mean, variance; ptrs = [offset or 0, scale or 0]; F[0] = epsilon. One pass over x:
      // y = x·k + (offset − mean·k) with k = scale/√(var + ε).
      OP("batch_norm") {
        Tensor k = at::rsqrt(C + F[0]);
        if (g_ptrs[1] != 0) k = k * ptr_at(1);
        Tensor shift = -B * k;
        if (g_ptrs[0] != 0) shift = shift + ptr_at(0);
        return at::addcmul(shift, A, k);
      } END,

      // convolution. I = window (12 ints, see Window) + [depthwise, nchw, activation, inN, inH, inW, inC, outC]
      // conv2d: x, filter, bias?   F[0] = leaky alpha, ptrs[0] = PReLU weights
      OP("conv2d") {
        const Window w = Window::read(I);
        const bool dw = I[12], nchw = I[13];
        const Tensor x = nchw ? A : nhwc_to_nchw(A);
        const Tensor wt = dw ? depthwise_to_weight(B) : filter_to_weight(B);
        const int64_t groups = dw ? x.size(1) : 1;
        const Padded p = pad_for(x, w, 0.0, false);
        const bool bias_in_conv = HAS(2) && C.dim() == 1 && C.size(0) == wt.size(0);
        Tensor y = at::conv2d(p.x, wt, bias_in_conv ? c10::optional<Tensor>(C) : c10::nullopt, {w.sh, w.sw},
                              {p.ph, p.pw}, {w.dh, w.dw}, groups);
        y = fit_out(y, w);
        if (!nchw) y = nchw_to_nhwc(y);
        if (HAS(2) && !bias_in_conv) y = y + C;
        return activate(y, I[14], F[0], I[14] == kPrelu ? &ptr_at(0) : nullptr);
      } END,
      // dx from dy and filter
      OP("conv2d_backprop_input") {
        const Window w = Window::read(I);
        const bool dw = I[12], nchw = I[13];
        const int64_t n = I[15], h = I[16], wd = I[17], c = I[18];
        const Tensor dy = fit_out(nchw ? A : nhwc_to_nchw(A), w);
        const Tensor wt = dw ? depthwise_to_weight(B) : filter_to_weight(B);
        const Tensor like = empty_nchw(n, c, h, wd, dy);
        const Padded p = pad_for(like, w, 0.0, false);
        const Tensor xp = p.explicit_pad ? empty_nchw(n, c, p.x.size(2), p.x.size(3), dy) : like;
        auto g = at::convolution_backward(dy, xp, wt, c10::nullopt, {w.sh, w.sw}, {p.ph, p.pw}, {w.dh, w.dw}, false,
                                          {0, 0}, dw ? c : 1, {true, false, false});
        Tensor dx = std::get<0>(g);
        if (p.explicit_pad) dx = crop_hw(dx, p.pt, p.pl, h, wd);
        return nchw ? dx : nchw_to_nhwc(dx);
      } END,
      // dfilter from x and dy; I[19..22] = filter shape
      OP("conv2d_backprop_filter") {
        const Window w = Window::read(I);
        const bool dw = I[12], nchw = I[13];
        const Tensor x = nchw ? A : nhwc_to_nchw(A);
        const Tensor dy = nchw ? B : nhwc_to_nchw(B);
        const int64_t fh = I[19], fw = I[20], fi = I[21], fo = I[22];
        const Padded p = pad_for(x, w, 0.0, false);
        const Tensor wt = dw ? at::empty({fi * fo, 1, fh, fw}, x.options()) : at::empty({fo, fi, fh, fw}, x.options());
        // convolution_backward wants dy to be exactly the output ATen would compute from the (padded) input.
        const int64_t ah = (p.x.size(2) + 2 * p.ph - (fh - 1) * w.dh - 1) / w.sh + 1;
        const int64_t aw = (p.x.size(3) + 2 * p.pw - (fw - 1) * w.dw - 1) / w.sw + 1;
        Tensor g_out = dy;
        if (ah != dy.size(2) || aw != dy.size(3)) {
          g_out = at::constant_pad_nd(dy.narrow(2, 0, std::min(ah, dy.size(2))).narrow(3, 0, std::min(aw, dy.size(3))),
                                      {0, std::max<int64_t>(0, aw - dy.size(3)), 0, std::max<int64_t>(0, ah - dy.size(2))});
        }
        auto g = at::convolution_backward(g_out, p.x, wt, c10::nullopt, {w.sh, w.sw}, {p.ph, p.pw}, {w.dh, w.dw},
                                          false, {0, 0}, dw ? fi : 1, {false, true, false});
        const Tensor& gw = std::get<1>(g);
        if (dw) return gw.reshape({fi, fo, fh, fw}).permute({2, 3, 0, 1});
        return weight_to_filter(gw);
      } END,

      // pooling: x (NHWC); I = window
      OP("max_pool") {
        const Window w = Window::read(I);
        if (A.scalar_type() == at::kFloat) return max_pool_nhwc(A, w);
        const Padded p = pad_for(nhwc_to_nchw(A), w, -std::numeric_limits<double>::infinity(), true);
        const Tensor y = at::max_pool2d(p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.ph, p.pw}, {w.dh, w.dw}, false);
        return nchw_to_nhwc(fit_out(y, w));
      } END,
      // MaxPoolGrad(dy, x): the argmax positions are recomputed from x (tfjs does not keep them).
      OP("max_pool_grad") {
        const Window w = Window::read(I);
        if (A.scalar_type() == at::kFloat && B.scalar_type() == at::kFloat) return max_pool_grad_nhwc(A, B, w);
        const Tensor x = nhwc_to_nchw(B);
        const Padded p = pad_for(x, w, -std::numeric_limits<double>::infinity(), true);
        auto yi = at::max_pool2d_with_indices(p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.ph, p.pw}, {w.dh, w.dw}, false);
        const Tensor& idx = std::get<1>(yi);
        Tensor dy = nhwc_to_nchw(A);
        if (dy.size(2) != idx.size(2) || dy.size(3) != idx.size(3)) {
          dy = at::constant_pad_nd(dy, {0, idx.size(3) - dy.size(3), 0, idx.size(2) - dy.size(2)});
        }
        Tensor dx = at::max_pool2d_with_indices_backward(dy, p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.ph, p.pw},
                                                         {w.dh, w.dw}, false, idx);
        if (p.explicit_pad) dx = crop_hw(dx, p.pt, p.pl, x.size(2), x.size(3));
        return nchw_to_nhwc(dx);
      } END,
      // Average pooling divides by the number of real (unpadded) pixels in each window, as tfjs.
      OP("avg_pool") {
        const Window w = Window::read(I);
        const Tensor x = nhwc_to_nchw(A);
        const Padded p = pad_for(x, w, 0.0, true);
        if (!p.explicit_pad) {
          return nchw_to_nhwc(fit_out(at::avg_pool2d(p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.ph, p.pw}, false, false), w));
        }
        const Tensor ones = at::constant_pad_nd(at::ones({1, 1, x.size(2), x.size(3)}, x.options()),
                                                {p.pl, p.x.size(3) - x.size(3) - p.pl, p.pt, p.x.size(2) - x.size(2) - p.pt});
        const Tensor share = at::avg_pool2d(ones, {w.kh, w.kw}, {w.sh, w.sw}, {0, 0}, false, true);
        const Tensor y = at::avg_pool2d(p.x, {w.kh, w.kw}, {w.sh, w.sw}, {0, 0}, false, true) / share;
        return nchw_to_nhwc(fit_out(y, w));
      } END,
      // AvgPoolGrad(dy, x)
      OP("avg_pool_grad") {
        const Window w = Window::read(I);
        const Tensor x = nhwc_to_nchw(B);
        const Padded p = pad_for(x, w, 0.0, true);
        Tensor dy = nhwc_to_nchw(A);
        if (!p.explicit_pad) {
          return nchw_to_nhwc(
              at::avg_pool2d_backward(dy, x, {w.kh, w.kw}, {w.sh, w.sw}, {p.ph, p.pw}, false, false, c10::nullopt));
        }
        const Tensor ones = at::constant_pad_nd(at::ones({1, 1, x.size(2), x.size(3)}, x.options()),
                                                {p.pl, p.x.size(3) - x.size(3) - p.pl, p.pt, p.x.size(2) - x.size(2) - p.pt});
        const Tensor share = at::avg_pool2d(ones, {w.kh, w.kw}, {w.sh, w.sw}, {0, 0}, false, true);
        if (dy.size(2) != share.size(2) || dy.size(3) != share.size(3)) {
          dy = at::constant_pad_nd(dy, {0, share.size(3) - dy.size(3), 0, share.size(2) - dy.size(2)});
        }
        const Tensor dx = at::avg_pool2d_backward(dy / share, p.x, {w.kh, w.kw}, {w.sh, w.sw}, {0, 0}, false, true,
                                                  c10::nullopt);
        return nchw_to_nhwc(crop_hw(dx, p.pt, p.pl, x.size(2), x.size(3)));
      } END,
  };
  return table;
}

#undef A
#undef B
#undef C

template <typename T, typename Fn>
T guarded(T fallback, Fn fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    g_error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    g_error = e.what();
  }
  return fallback;
}

}  // namespace

extern "C" {

// Exchange area, viewed from JS as typed arrays.
int32_t* lwi_meta() { return g_meta; }
int32_t* lwi_ints() { return g_ints; }
double* lwi_floats() { return g_floats; }
double* lwi_ptrs() { return g_ptrs; }
const char* lwi_error() { return g_error.c_str(); }
int32_t lwi_live() { return static_cast<int32_t>(g_live); }

// Call once, from the JS thread. Autograd is never used: InferenceMode (kept for the life of the process on this
// thread) skips its bookkeeping on every op.
//
// keep_freed_memory: tfjs holds a whole training step's intermediates until its tidy scope ends, then frees them
// at once; glibc then returns the memory to the OS (large blocks are mmapped, the heap top is trimmed) and the next
// step page-faults it all back in — a third of LeNet's step time. Raising glibc's mmap and trim thresholds keeps
// freed blocks for reuse (the process keeps its peak footprint; blocks above 32 MB are still mmapped).
int32_t lwi_init(int32_t threads, int32_t keep_freed_memory) {
  return guarded<int32_t>(-1, [&] {
    static c10::InferenceMode* mode = new c10::InferenceMode(true);
    (void)mode;
    if (keep_freed_memory != 0) {
      mallopt(M_MMAP_THRESHOLD, 32 << 20);
      mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
    if (threads > 0) at::set_num_threads(threads);
    return static_cast<int32_t>(at::get_num_threads());
  });
}

void lwi_set_threads(int32_t n) { at::set_num_threads(n); }
int32_t lwi_get_threads() { return static_cast<int32_t>(at::get_num_threads()); }

// Index of op `name` in the table, or -1.
int32_t lwi_op(const char* name) {
  const auto& t = ops();
  for (size_t i = 0; i < t.size(); ++i) {
    if (std::strcmp(t[i].name, name) == 0) return static_cast<int32_t>(i);
  }
  return -1;
}

// A tensor of `dtype` and shape shape[0..rank) holding a copy of `data` (may be null when it has no elements).
// The shape has its own buffer: a write can happen in the middle of a kernel (tfjs moving a tensor over from
// another backend) after the kernel filled the exchange area.
Tensor* lwi_from(const void* data, int32_t dtype, const int32_t* shape, int32_t rank) {
  return guarded<Tensor*>(nullptr, [&] {
    Tensor t = at::empty(ints(shape, rank), at::TensorOptions().dtype(scalar_of(dtype)));
    if (t.numel() > 0) std::memcpy(t.data_ptr(), data, t.numel() * t.element_size());
    return box(std::move(t));
  });
}

// Copies the tensor's values, row-major, into `out` (nbytes long). Returns 0, or -1 with lwi_error set.
int32_t lwi_read(Tensor* t, void* out, double nbytes) {
  return guarded<int32_t>(-1, [&] {
    const Tensor c = t->contiguous();
    const size_t n = c.numel() * c.element_size();
    if (static_cast<double>(n) != nbytes) throw std::runtime_error("read: buffer size does not match the tensor");
    if (n > 0) std::memcpy(out, c.data_ptr(), n);
    return 0;
  });
}

// Writes t's dtype and shape to the meta area.
int32_t lwi_describe(Tensor* t) {
  g_meta[0] = code_of(t->scalar_type());
  g_meta[1] = static_cast<int32_t>(t->dim());
  for (int64_t i = 0; i < t->dim(); ++i) g_meta[2 + i] = static_cast<int32_t>(t->size(i));
  return g_meta[1];
}

void lwi_free(Tensor* t) {
  if (t == nullptr) return;
  --g_live;
  delete t;
}

Tensor* lwi_call(int32_t op, Tensor* a, Tensor* b, Tensor* c) {
  return guarded<Tensor*>(nullptr, [&] {
    const auto& t = ops();
    if (op < 0 || static_cast<size_t>(op) >= t.size()) throw std::runtime_error("unknown op index");
    Tensor* in[3] = {a, b, c};
    return box(t[op].fn(in, g_ints, g_floats));
  });
}

}  // extern "C"
