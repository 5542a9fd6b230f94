// The engine's own CUDA kernels, where candle would compose several
// launches: a convolution's bias and ReLU; the ReLU mask and max-pool
// routing of the hand-written backward; max-pool forward keeping its
// argmax; the loss terms with their gradients (content, style, total
// variation, temporal); L-BFGS's recursion and an Adam step.
// Built to PTX by engine/build.rs with the `cuda` feature; loaded by
// src/ops/cuda/. Every tensor is contiguous; a batch's pictures arrive as
// (N·C, H, W) planes. Every loop is grid-stride, so any launch size covers n.
#include <cuda_bf16.h>

__device__ __forceinline__ float to_float(float a) { return a; }
__device__ __forceinline__ float to_float(__nv_bfloat16 a) { return __bfloat162float(a); }

template <typename T> __device__ __forceinline__ T from_float(float a);
template <> __device__ __forceinline__ float from_float<float>(float a) { return a; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float a) {
  return __float2bfloat16(a);
}

template <typename T> __device__ __forceinline__ T zero();
template <> __device__ __forceinline__ float zero<float>() { return 0.0f; }
template <> __device__ __forceinline__ __nv_bfloat16 zero<__nv_bfloat16>() {
  return __float2bfloat16(0.0f);
}

#define GRID_STRIDE(i, n)                                                      \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);      \
       i += (size_t)blockDim.x * gridDim.x)

// out[i] = act[i] > 0 ? g[i] : 0 — the gradient through a ReLU, given its output.
template <typename T>
__device__ void relu_backward(const unsigned int n, const T *g, const T *act, T *out) {
  GRID_STRIDE(i, n) { out[i] = to_float(act[i]) > 0.0f ? g[i] : zero<T>(); }
}

// A convolution's epilogue, in place on its output y: (P, H·W) planes with
// P = N·C (plane p has channel p mod C): y += bias[channel], then the ReLU
// where relu != 0. In f32, rounded once to T: what candle's broadcast add
// and ReLU give.
template <typename T>
__device__ void bias_relu(const unsigned int n, const unsigned int plane,
                          const unsigned int channels, const int relu, T *y, const T *bias) {
  GRID_STRIDE(i, n) {
    const float v = to_float(y[i]) + to_float(bias[(i / plane) % channels]);
    y[i] = from_float<T>(relu && v < 0.0f ? 0.0f : v);
  }
}

// The four inputs of 2×2 window i (row-major over (C, H/2, W/2)) of a
// (C, H, W) plane stack, in row-major order.
__device__ __forceinline__ void window(const size_t i, const unsigned int h,
                                       const unsigned int w, size_t idx[4]) {
  const size_t oh = h / 2, ow = w / 2;
  const size_t ch = i / (oh * ow), r = i % (oh * ow);
  const size_t oy = r / ow, ox = r % ow;
  const size_t top = ch * h * w + 2 * oy * w + 2 * ox;
  idx[0] = top;
  idx[1] = top + 1;
  idx[2] = top + w;
  idx[3] = top + w + 1;
}

// Which of the window's inputs is its first maximum in row-major order: only
// a strictly greater value moves it, as the CPU kernel (ops/pool.rs).
template <typename T>
__device__ __forceinline__ int first_max(const T *x, const size_t idx[4]) {
  int best = 0;
  for (int k = 1; k < 4; ++k) {
    if (to_float(x[idx[k]]) > to_float(x[idx[best]])) best = k;
  }
  return best;
}

// Max-pool 2×2 forward, one thread per window: out (C, H/2, W/2) and, for
// the backward, argmax[i] = the window's first maximum (0..3).
template <typename T>
__device__ void max_pool2_forward(const unsigned int c, const unsigned int h,
                                  const unsigned int w, const T *x, T *out,
                                  unsigned char *argmax) {
  const size_t n = (size_t)c * (h / 2) * (w / 2);
  GRID_STRIDE(i, n) {
    size_t idx[4];
    window(i, h, w, idx);
    const int best = first_max(x, idx);
    out[i] = x[idx[best]];
    argmax[i] = (unsigned char)best;
  }
}

// Max-pool 2×2 backward from the forward input x: (C, H, W), g: (C, H/2, W/2).
// The window's gradient goes to its first maximum, zeros to the other three;
// out is zeroed by the caller, so an odd last row or column stays 0.
template <typename T>
__device__ void max_pool2_backward(const unsigned int c, const unsigned int h,
                                   const unsigned int w, const T *g, const T *x, T *out) {
  const size_t n = (size_t)c * (h / 2) * (w / 2);
  GRID_STRIDE(i, n) {
    size_t idx[4];
    window(i, h, w, idx);
    const int best = first_max(x, idx);
    for (int k = 0; k < 4; ++k) out[idx[k]] = k == best ? g[i] : zero<T>();
  }
}

// As max_pool2_backward, from the forward's argmax instead of its input.
template <typename T>
__device__ void max_pool2_backward_argmax(const unsigned int c, const unsigned int h,
                                          const unsigned int w, const T *g,
                                          const unsigned char *argmax, T *out) {
  const size_t n = (size_t)c * (h / 2) * (w / 2);
  GRID_STRIDE(i, n) {
    size_t idx[4];
    window(i, h, w, idx);
    const int best = argmax[i];
    for (int k = 0; k < 4; ++k) out[idx[k]] = k == best ? g[i] : zero<T>();
  }
}

#define FOR_F32_AND_BF16(NAME, PARAMS, ARGS)                                   \
  extern "C" __global__ void NAME##_f32 PARAMS(float) { NAME ARGS; }           \
  extern "C" __global__ void NAME##_bf16 PARAMS(__nv_bfloat16) { NAME ARGS; }

#define RELU_PARAMS(T) (const unsigned int n, const T *g, const T *act, T *out)
#define BIAS_PARAMS(T)                                                         \
  (const unsigned int n, const unsigned int plane, const unsigned int channels, const int relu, \
   T *y, const T *bias)
#define FORWARD_PARAMS(T)                                                      \
  (const unsigned int c, const unsigned int h, const unsigned int w, const T *x, T *out, \
   unsigned char *argmax)
#define BACKWARD_PARAMS(T)                                                     \
  (const unsigned int c, const unsigned int h, const unsigned int w, const T *g, const T *x, \
   T *out)
#define BACKWARD_ARGMAX_PARAMS(T)                                              \
  (const unsigned int c, const unsigned int h, const unsigned int w, const T *g, \
   const unsigned char *argmax, T *out)

FOR_F32_AND_BF16(relu_backward, RELU_PARAMS, (n, g, act, out))
FOR_F32_AND_BF16(bias_relu, BIAS_PARAMS, (n, plane, channels, relu, y, bias))
FOR_F32_AND_BF16(max_pool2_forward, FORWARD_PARAMS, (c, h, w, x, out, argmax))
FOR_F32_AND_BF16(max_pool2_backward, BACKWARD_PARAMS, (c, h, w, g, x, out))
FOR_F32_AND_BF16(max_pool2_backward_argmax, BACKWARD_ARGMAX_PARAMS, (c, h, w, g, argmax, out))

// The content and style terms' elementwise part, f32: d = s·a − b;
// out[0..n] = k·d (the gradient, or its factor before the style term's
// matrix product), out[n..2n] = d² (summed by the caller for the loss).
extern "C" __global__ void difference_f32(const unsigned int n, const float s, const float k,
                                          const float *a, const float *b, float *out) {
  GRID_STRIDE(i, n) {
    const float d = s * a[i] - b[i];
    out[i] = k * d;
    out[n + i] = d * d;
  }
}

// The temporal term, f32: a, b: (C, H, W), weights c: (H, W) for every
// channel (plane = H·W); d = a − b, cd = c ⊙ d; out[0..n] = k·cd,
// out[n..2n] = cd·d.
extern "C" __global__ void weighted_difference_f32(const unsigned int n, const unsigned int plane,
                                                   const float k, const float *a, const float *b,
                                                   const float *c, float *out) {
  GRID_STRIDE(i, n) {
    const float d = a[i] - b[i];
    const float cd = c[i % plane] * d;
    out[i] = k * cd;
    out[n + i] = cd * d;
  }
}

// Total variation of x: (C, H, W), f32, neural-style's TVLoss: one thread per
// pixel. out[0..n] is the gradient of w/2 · Σ (dx² + dy²), with dx, dy the
// differences to the right and lower neighbour over the top-left
// (H-1)×(W-1) corner; out[n..2n] each pixel's dx² + dy² (0 outside the
// corner), summed by the caller. As loss.rs's composition:
// g = w · (dx + dy [in the corner] − dx(y, x−1) − dy(y−1, x)).
extern "C" __global__ void total_variation_f32(const unsigned int c, const unsigned int h,
                                               const unsigned int w, const float weight,
                                               const float *x, float *out) {
  const size_t n = (size_t)c * h * w;
  GRID_STRIDE(i, n) {
    const unsigned int col = i % w, row = (i / w) % h;
    const float v = x[i];
    float g = 0.0f, sq = 0.0f;
    if (row + 1 < h && col + 1 < w) {
      const float dx = v - x[i + 1], dy = v - x[i + w];
      g += dx + dy;
      sq = dx * dx + dy * dy;
    }
    if (col > 0 && row + 1 < h) g -= x[i - 1] - v;
    if (row > 0 && col + 1 < w) g -= x[i - w] - v;
    out[i] = weight * g;
    out[n + i] = sq;
  }
}

// L-BFGS's two-loop recursion (torch's optim.lbfgs) on the dot products of
// its curvature pairs instead of the vectors, one thread: the five
// vector-sized launches per pair and loop (a thousand with neural-style's
// history of 100) become this one and three products. The pairs sit in ring slots 0..m of a
// (2m, n) store M (rows k: s_k, m+k: y_k); `count` of them are filled, the
// oldest in slot `oldest`. dots (2m, 2m): row k is s_k·M and row m+k is
// y_k·M, each as of slot k's insertion, so only the newer pair's row of two
// is current. mg (2m) = M·g. With alpha_t, beta_t the recursion's
// coefficients (t = 0 the oldest pair):
//   alpha_t = ρ_t (s_t·g − Σ_{u>t} alpha_u s_t·y_u)
//   beta_t  = ρ_t (h (y_t·g − Σ_u alpha_u y_t·y_u) + Σ_{u<t} (alpha_u − beta_u) s_u·y_t)
// and H·g = h g + Σ_t (alpha_t − beta_t) s_t − h alpha_t y_t. out (2m):
// out[k] = alpha − beta of slot k, out[m+k] = −h·alpha (0 for empty
// slots), so that H·g = h g + Mᵀ out. work: 2m doubles of scratch.
extern "C" __global__ void lbfgs_coefficients_f32(const unsigned int m, const unsigned int count,
                                                  const unsigned int oldest, const double h,
                                                  const float *dots, const float *mg, float *out,
                                                  double *work) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const size_t row = 2 * (size_t)m;
  double *alpha = work, *a = work + m;
#define SLOT(t) ((oldest + (t)) % m)
  // s_t·y_u from the row of the newer of the two pairs (t's own for t = u).
#define SY(t, u)                                                               \
  ((t) >= (u) ? (double)dots[SLOT(t) * row + m + SLOT(u)]                      \
              : (double)dots[(m + SLOT(u)) * row + SLOT(t)])
#define YY(t, u)                                                               \
  ((t) >= (u) ? (double)dots[(m + SLOT(t)) * row + m + SLOT(u)]                \
              : (double)dots[(m + SLOT(u)) * row + m + SLOT(t)])
  for (unsigned int k = 0; k < 2 * m; ++k) out[k] = 0.0f;
  for (unsigned int t = count; t-- > 0;) {
    double acc = mg[SLOT(t)];
    for (unsigned int u = t + 1; u < count; ++u) acc -= alpha[SLOT(u)] * SY(t, u);
    alpha[SLOT(t)] = acc / SY(t, t);
  }
  for (unsigned int t = 0; t < count; ++t) {
    double yr = mg[m + SLOT(t)];
    for (unsigned int u = 0; u < count; ++u) yr -= alpha[SLOT(u)] * YY(t, u);
    yr *= h;
    for (unsigned int u = 0; u < t; ++u) yr += a[SLOT(u)] * SY(u, t);
    const double beta = yr / SY(t, t);
    a[SLOT(t)] = alpha[SLOT(t)] - beta;
    out[SLOT(t)] = (float)a[SLOT(t)];
    out[m + SLOT(t)] = (float)(-h * alpha[SLOT(t)]);
  }
#undef SLOT
#undef SY
#undef YY
}

// One Adam step (Kingma & Ba, as optim/adam.rs), f32: x, g (n), mv (2n: the
// first moment, then the second). out (3n): the next x, then the new m and
// v. step = lr / (1 − β₁ᵗ), sqrt_bc2 = √(1 − β₂ᵗ).
extern "C" __global__ void adam_f32(const unsigned int n, const float b1, const float b2,
                                    const float step, const float sqrt_bc2, const float eps,
                                    const float *x, const float *g, const float *mv, float *out) {
  GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float m = b1 * mv[i] + (1.0f - b1) * gi;
    const float v = b2 * mv[n + i] + (1.0f - b2) * (gi * gi);
    out[i] = x[i] - step * (m / (sqrtf(v) / sqrt_bc2 + eps));
    out[n + i] = m;
    out[2 * (size_t)n + i] = v;
  }
}
