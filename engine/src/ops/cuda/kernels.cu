// The engine's own CUDA kernels, where candle would compose several
// launches: the ReLU mask and max-pool routing of the hand-written backward,
// and the total-variation term.
// Built to PTX by engine/build.rs with the `cuda` feature; loaded by
// src/ops/cuda.rs. Every tensor is contiguous (C, H, W).
#include <cuda_bf16.h>

// out[i] = act[i] > 0 ? g[i] : 0 — the gradient through a ReLU, given its output.
#define RELU_BACKWARD(NAME, T, ZERO, POSITIVE)                                   \
  extern "C" __global__ void NAME(const unsigned int n, const T *g,             \
                                  const T *act, T *out) {                       \
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n;         \
         i += blockDim.x * gridDim.x) {                                         \
      out[i] = POSITIVE(act[i]) ? g[i] : ZERO;                                  \
    }                                                                           \
  }

// One thread per 2×2 window of x: (C, H, W), g: (C, H/2, W/2). The window's
// gradient goes to its first maximum in row-major order (as the CPU kernel:
// only a strictly greater value moves it), zeros to the other three; out is
// zeroed by the caller, so an odd last row or column stays 0.
#define MAX_POOL2_BACKWARD(NAME, T, ZERO, GREATER)                              \
  extern "C" __global__ void NAME(const unsigned int c, const unsigned int h,  \
                                  const unsigned int w, const T *g,             \
                                  const T *x, T *out) {                         \
    const unsigned int oh = h / 2, ow = w / 2, n = c * oh * ow;                 \
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n;         \
         i += blockDim.x * gridDim.x) {                                         \
      const unsigned int ch = i / (oh * ow), r = i % (oh * ow);                 \
      const unsigned int oy = r / ow, ox = r % ow;                              \
      const size_t base = (size_t)ch * h * w;                                   \
      const size_t idx[4] = {base + (2 * oy) * w + 2 * ox,                      \
                             base + (2 * oy) * w + 2 * ox + 1,                  \
                             base + (2 * oy + 1) * w + 2 * ox,                  \
                             base + (2 * oy + 1) * w + 2 * ox + 1};             \
      int best = 0;                                                             \
      for (int k = 1; k < 4; ++k) {                                             \
        if (GREATER(x[idx[k]], x[idx[best]])) best = k;                         \
      }                                                                         \
      for (int k = 0; k < 4; ++k) out[idx[k]] = k == best ? g[i] : ZERO;        \
    }                                                                           \
  }

#define F32_POSITIVE(a) ((a) > 0.0f)
#define F32_GREATER(a, b) ((a) > (b))
#define BF16_POSITIVE(a) (__bfloat162float(a) > 0.0f)
#define BF16_GREATER(a, b) (__bfloat162float(a) > __bfloat162float(b))

RELU_BACKWARD(relu_backward_f32, float, 0.0f, F32_POSITIVE)
RELU_BACKWARD(relu_backward_bf16, __nv_bfloat16, __float2bfloat16(0.0f), BF16_POSITIVE)
MAX_POOL2_BACKWARD(max_pool2_backward_f32, float, 0.0f, F32_GREATER)
MAX_POOL2_BACKWARD(max_pool2_backward_bf16, __nv_bfloat16, __float2bfloat16(0.0f), BF16_GREATER)

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
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (size_t)blockDim.x * gridDim.x) {
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
