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

#include <malloc.h>
#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "shim-conv.h"
#include "shim-layout.h"
#include "shim-loops.h"
#include "shim-pool.h"
#include "shim-winograd.h"

using at::Tensor;
using namespace lwi;

namespace {

constexpr int kMaxRank = 32;
int32_t g_meta[2 + kMaxRank];  // dtype code, rank, shape...
int32_t g_ints[4096];
double g_floats[64];
double g_ptrs[4096];  // tensor pointers as doubles (exact below 2^53), the way JS holds them
std::string g_error;
int64_t g_live = 0;
// Further results of the last call (ops with more than one output), handed out in order by lwi_extra.
std::vector<Tensor> g_extra;

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
          c = c.reshape(s);
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
      OP("tile") {
        // Repeating only size-1 dims is a broadcast: a zero-stride view instead of a copy (tfjs's batch-norm
        // gradient tiles a [1,1,1,C] tensor to the full activation shape).
        const std::vector<int64_t> reps = ints(I + 1, I[0]);
        bool broadcast = static_cast<int64_t>(reps.size()) == A.dim();
        std::vector<int64_t> shape(reps.size());
        for (size_t d = 0; d < reps.size() && broadcast; ++d) {
          broadcast = reps[d] == 1 || A.size(d) == 1;
          shape[d] = A.size(d) * reps[d];
        }
        return broadcast ? A.expand(shape) : A.repeat(reps);
      } END,
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
        bool leading = true;  // axes 0..n-1 in order: a bias gradient (shim-loops.h sum_leading)
        for (int i = 0; i < I[0]; ++i) leading = leading && I[1 + i] == i;
        if (leading) {
          Tensor y = sum_leading(A, I[0], I[I[0] + 1] != 0);
          if (y.defined()) return y;
        }
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
      // One SGD step: w, g, v?; F = [lr, momentum]. Returns w'; v' (when v is given) is the extra result.
      OP("sgd_update") {
        Tensor v_new;
        Tensor w_new = sgd_update(A, B, HAS(2) ? &C : nullptr, F[0], F[1], v_new);
        if (HAS(2)) g_extra.push_back(std::move(v_new));
        return w_new;
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
        if (use_winograd(A, B, w, dw, nchw, A.size(3), B.size(3))) {
          const bool fuse = HAS(2) && C.scalar_type() == at::kFloat && C.dim() == 1 && C.size(0) == B.size(3);
          Tensor y = wino_forward(A, B, w, fuse ? &C : nullptr);
          if (HAS(2) && !fuse) y = y + C;
          return activate(y, I[14], F[0], I[14] == kPrelu ? &ptr_at(0) : nullptr);
        }
        if (use_tap_gemm(A, B, w, dw, nchw, ConvPass::kForward, A.size(1), A.size(2), A.size(3), B.size(3))) {
          Tensor y = tap_conv_forward(A, B, w);
          if (HAS(2)) y = y + C;
          return activate(y, I[14], F[0], I[14] == kPrelu ? &ptr_at(0) : nullptr);
        }
        const Tensor x = nchw ? A : nhwc_to_nchw(A);
        const Tensor wt = dw ? depthwise_to_weight(B) : filter_to_weight(B);
        const int64_t groups = dw ? x.size(1) : 1;
        const Padded p = pad_for(x, w, 0.0, false);
        const bool bias_in_conv = HAS(2) && C.dim() == 1 && C.size(0) == wt.size(0);
        Tensor y = at::conv2d(p.x, wt, bias_in_conv ? c10::optional<Tensor>(C) : c10::nullopt, {w.sh, w.sw},
                              {p.plan.ph, p.plan.pw}, {w.dh, w.dw}, groups);
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
        const bool dy_fits = A.dim() == 4 && A.size(0) == n && A.size(1) == w.oh && A.size(2) == w.ow;
        if (dy_fits && use_winograd(A, B, w, dw, nchw, c, A.size(3)) && B.size(2) == c && B.size(3) == A.size(3)) {
          return wino_backprop_input(A, B, w, n, h, wd, c);
        }
        if (use_tap_gemm(A, B, w, dw, nchw, ConvPass::kInputGrad, h, wd, c, A.size(3)) && A.dim() == 4 && A.size(0) == n && A.size(1) == w.oh && A.size(2) == w.ow) {
          return tap_conv_backprop_input(A, B, w, n, h, wd, c);
        }
        const Tensor dy = fit_out(nchw ? A : nhwc_to_nchw(A), w);
        const Tensor wt = dw ? depthwise_to_weight(B) : filter_to_weight(B);
        const PadPlan p = pad_plan(h, wd, w, false);
        // only the (padded) input's sizes and layout matter to the backward kernel: never written, never read
        const Tensor xp = empty_nchw(n, c, p.hp, p.wp, dy);
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
        const int64_t fh = I[19], fw = I[20], fi = I[21], fo = I[22];
        const bool dy_fits = B.dim() == 4 && B.size(1) == w.oh && B.size(2) == w.ow && B.size(3) == fo;
        if (dy_fits && A.dim() == 4 && A.size(3) == fi && B.size(0) == A.size(0) && use_winograd(A, B, w, dw, nchw, fi, fo)) {
          return wino_backprop_filter(A, B, w, fo);
        }
        if (use_tap_gemm(A, B, w, dw, nchw, ConvPass::kFilterGrad, A.size(1), A.size(2), fi, fo) && B.dim() == 4 && B.size(1) == w.oh && B.size(2) == w.ow && B.size(3) == fo) {
          return tap_conv_backprop_filter(A, B, w, fo);
        }
        const Tensor x = nchw ? A : nhwc_to_nchw(A);
        const Tensor dy = nchw ? B : nhwc_to_nchw(B);
        const Padded p = pad_for(x, w, 0.0, false);
        const Tensor wt = dw ? at::empty({fi * fo, 1, fh, fw}, x.options()) : at::empty({fo, fi, fh, fw}, x.options());
        // convolution_backward wants dy to be exactly the output ATen would compute from the (padded) input.
        const int64_t ah = (p.x.size(2) + 2 * p.plan.ph - (fh - 1) * w.dh - 1) / w.sh + 1;
        const int64_t aw = (p.x.size(3) + 2 * p.plan.pw - (fw - 1) * w.dw - 1) / w.sw + 1;
        Tensor g_out = dy;
        if (ah != dy.size(2) || aw != dy.size(3)) {
          g_out = at::constant_pad_nd(dy.narrow(2, 0, std::min(ah, dy.size(2))).narrow(3, 0, std::min(aw, dy.size(3))),
                                      {0, std::max<int64_t>(0, aw - dy.size(3)), 0, std::max<int64_t>(0, ah - dy.size(2))});
        }
        auto g = at::convolution_backward(g_out, p.x, wt, c10::nullopt, {w.sh, w.sw}, {p.plan.ph, p.plan.pw}, {w.dh, w.dw},
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
        const Tensor y = at::max_pool2d(p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.plan.ph, p.plan.pw}, {w.dh, w.dw}, false);
        return nchw_to_nhwc(fit_out(y, w));
      } END,
      // MaxPoolGrad(dy, x): the argmax positions are recomputed from x (tfjs does not keep them).
      OP("max_pool_grad") {
        const Window w = Window::read(I);
        if (A.size(1) != w.oh || A.size(2) != w.ow || A.size(0) != B.size(0) || A.size(3) != B.size(3)) {
          throw std::runtime_error("MaxPoolGrad: dy's shape does not match the pooling window");
        }
        if (A.scalar_type() == at::kFloat && B.scalar_type() == at::kFloat) return max_pool_grad_nhwc(A, B, w);
        const Tensor x = nhwc_to_nchw(B);
        const Padded p = pad_for(x, w, -std::numeric_limits<double>::infinity(), true);
        auto yi = at::max_pool2d_with_indices(p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.plan.ph, p.plan.pw}, {w.dh, w.dw}, false);
        const Tensor& idx = std::get<1>(yi);
        Tensor dy = nhwc_to_nchw(A);
        if (dy.size(2) != idx.size(2) || dy.size(3) != idx.size(3)) {
          dy = at::constant_pad_nd(dy, {0, idx.size(3) - dy.size(3), 0, idx.size(2) - dy.size(2)});
        }
        Tensor dx = at::max_pool2d_with_indices_backward(dy, p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.plan.ph, p.plan.pw},
                                                         {w.dh, w.dw}, false, idx);
        if (p.plan.explicit_pad) dx = crop_hw(dx, p.plan.pt, p.plan.pl, x.size(2), x.size(3));
        return nchw_to_nhwc(dx);
      } END,
      // Average pooling divides by the number of real (unpadded) pixels in each window, as tfjs.
      OP("avg_pool") {
        const Window w = Window::read(I);
        const Tensor x = nhwc_to_nchw(A);
        const Padded p = pad_for(x, w, 0.0, true);
        if (!p.plan.explicit_pad) {
          return nchw_to_nhwc(fit_out(at::avg_pool2d(p.x, {w.kh, w.kw}, {w.sh, w.sw}, {p.plan.ph, p.plan.pw}, false, false), w));
        }
        const Tensor ones = at::constant_pad_nd(at::ones({1, 1, x.size(2), x.size(3)}, x.options()),
                                                {p.plan.pl, p.x.size(3) - x.size(3) - p.plan.pl, p.plan.pt, p.x.size(2) - x.size(2) - p.plan.pt});
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
        if (!p.plan.explicit_pad) {
          return nchw_to_nhwc(
              at::avg_pool2d_backward(dy, x, {w.kh, w.kw}, {w.sh, w.sw}, {p.plan.ph, p.plan.pw}, false, false, c10::nullopt));
        }
        const Tensor ones = at::constant_pad_nd(at::ones({1, 1, x.size(2), x.size(3)}, x.options()),
                                                {p.plan.pl, p.x.size(3) - x.size(3) - p.plan.pl, p.plan.pt, p.x.size(2) - x.size(2) - p.plan.pt});
        const Tensor share = at::avg_pool2d(ones, {w.kh, w.kw}, {w.sh, w.sw}, {0, 0}, false, true);
        if (dy.size(2) != share.size(2) || dy.size(3) != share.size(3)) {
          dy = at::constant_pad_nd(dy, {0, share.size(3) - dy.size(3), 0, share.size(2) - dy.size(2)});
        }
        const Tensor dx = at::avg_pool2d_backward(dy / share, p.x, {w.kh, w.kw}, {w.sh, w.sw}, {0, 0}, false, true,
                                                  c10::nullopt);
        return nchw_to_nhwc(crop_hw(dx, p.plan.pt, p.plan.pl, x.size(2), x.size(3)));
      } END,
  };
  return table;
}

#undef A
#undef B
#undef C

// Denormal floats (below 1.2e-38) take a slow path on many CPUs (microcode assists; cheap on this repo's Zen 4
// machine, BENCHMARKS.md "Denormal floats"), and a network stuck at chance can keep momentum buffers full of them:
// a velocity whose gradient stays 0 decays by 0.9 per step until 0.9·v rounds back to v, a few multiples of the
// smallest denormal, and never reaches 0. With flushing on (the default), the
// MXCSR's flush-to-zero and denormals-are-zero bits are set on ATen's pool threads (OpenMP) for good, and on the
// calling thread (Bun's JS thread, whose own double arithmetic must keep denormals) only for the length of a call.
constexpr unsigned kFtzDaz = 0x8040;  // _MM_FLUSH_ZERO_ON | _MM_DENORMALS_ZERO_ON
bool g_flush = true;

struct FlushGuard {
  unsigned saved = 0;
  FlushGuard() {
    if (g_flush) {
      saved = _mm_getcsr();
      _mm_setcsr(saved | kFtzDaz);
    }
  }
  ~FlushGuard() {
    if (g_flush) _mm_setcsr(saved);
  }
  FlushGuard(const FlushGuard&) = delete;
  FlushGuard& operator=(const FlushGuard&) = delete;
};

// Sets (or clears) FTZ/DAZ on every thread of the OpenMP pool ATen and oneDNN run on; the caller's MXCSR is kept.
// Threads the pool starts later copy the MXCSR of the thread that starts them, i.e. the calling thread inside a
// FlushGuard. Returns how many pool threads now flush.
int32_t apply_flush_to_pool() {
  const unsigned caller = _mm_getcsr();
  int32_t flushing = 0;
  // No num_threads clause (ATen avoids it: pytorch#32008); at::set_num_threads sets OpenMP's team size.
#pragma omp parallel reduction(+ : flushing)
  {
    const unsigned c = _mm_getcsr();
    _mm_setcsr(g_flush ? (c | kFtzDaz) : (c & ~kFtzDaz));
    flushing += (_mm_getcsr() & kFtzDaz) == kFtzDaz ? 1 : 0;
  }
  _mm_setcsr(caller);
  return flushing;
}

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

#include "shim-replay.h"

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
    apply_flush_to_pool();
    return static_cast<int32_t>(at::get_num_threads());
  });
}

void lwi_set_threads(int32_t n) {
  at::set_num_threads(n);
  apply_flush_to_pool();
}
// Flush denormals to zero in every op (1, the default) or keep them (0); returns the pool threads now flushing.
int32_t lwi_flush_denormals(int32_t on) {
  g_flush = on != 0;
  return apply_flush_to_pool();
}
// MXCSR of the calling thread between calls: tests check that JS's own arithmetic keeps its denormals.
int32_t lwi_caller_csr() { return static_cast<int32_t>(_mm_getcsr()); }
// Convolution algorithm: 0 = chosen by shape (default), 1 = tap-GEMM wherever it applies, 2 = ATen (oneDNN) always.
void lwi_conv_algorithm(int32_t mode) { conv_algorithm() = mode; }
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
Tensor* lwi_from(const void* data, int32_t dtype, const int32_t* shape, int32_t rank, double nbytes) {
  return guarded<Tensor*>(nullptr, [&] {
    Tensor t = at::empty(ints(shape, rank), at::TensorOptions().dtype(scalar_of(dtype)));
    const size_t n = t.numel() * t.element_size();
    if (static_cast<double>(n) != nbytes) throw std::runtime_error("write: value count does not match the shape");
    if (n > 0) std::memcpy(t.data_ptr(), data, n);
    return box(std::move(t));
  });
}

// Copies the tensor's values, row-major, into `out` (nbytes long). Returns 0, or -1 with lwi_error set.
int32_t lwi_read(Tensor* t, void* out, double nbytes) {
  return guarded<int32_t>(-1, [&] {
    const size_t n = t->numel() * t->element_size();
    if (static_cast<double>(n) != nbytes) throw std::runtime_error("read: buffer size does not match the tensor");
    if (n == 0) return 0;
    if (t->is_contiguous()) {
      std::memcpy(out, t->data_ptr(), n);
    } else {  // one strided pass straight into JS memory
      at::from_blob(out, t->sizes(), t->options()).copy_(*t);
    }
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
    g_extra.clear();
    const FlushGuard flush;
    return box(t[op].fn(in, g_ints, g_floats));
  });
}

// The next further result of the last lwi_call (its dtype and shape go to meta), or null when there is none.
Tensor* lwi_extra() {
  return guarded<Tensor*>(nullptr, [&]() -> Tensor* {
    if (g_extra.empty()) return nullptr;
    Tensor t = std::move(g_extra.front());
    g_extra.erase(g_extra.begin());
    return box(std::move(t));
  });
}

// Replay (shim-replay.h): builds a program from its streams (null + lwi_error when malformed); runs it on `inputs`
// (handles as doubles), writing one new handle per output to `outputs` (0, or -1 + lwi_error); frees it.
void* lwi_program(const int32_t* code, int32_t n, const double* floats, int32_t nf, const double* consts, int32_t nc) {
  return guarded<void*>(nullptr, [&]() -> void* {
    std::vector<Tensor*> cs(nc);
    for (int32_t i = 0; i < nc; ++i) cs[i] = reinterpret_cast<Tensor*>(static_cast<uintptr_t>(consts[i]));
    return build_program(code, n, floats, nf, cs);
  });
}
int32_t lwi_replay(void* program, const double* inputs, int32_t n_inputs, double* outputs) {
  return guarded<int32_t>(-1, [&] {
    auto& p = *static_cast<Program*>(program);
    if (static_cast<size_t>(n_inputs) != p.inputs.size()) throw std::runtime_error("replay: wrong number of inputs");
    std::vector<Tensor*> in(n_inputs);
    for (int32_t i = 0; i < n_inputs; ++i) in[i] = reinterpret_cast<Tensor*>(static_cast<uintptr_t>(inputs[i]));
    const FlushGuard flush;
    run_program(p, in.data(), outputs);
    return 0;
  });
}
void lwi_program_free(void* program) { delete static_cast<Program*>(program); }

}  // extern "C"
