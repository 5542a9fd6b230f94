//! 3×3, stride 1, padding 1 convolutions: VGG's only kind.
//!
//! Forward: `relu(W ∗ x + b)` (or without the ReLU). Backward with respect to
//! the input: the same convolution with the kernels flipped and the channel
//! axes swapped (`w_back[c][o][ky][kx] = w[o][c][2-ky][2-kx]`), which the model
//! precomputes once.
//!
//! CPU kernel: the image is cut into bands of rows; each band's im2col matrix
//! (`C_in·9 × rows·W`) stays a few MB, so the 100+ MB column matrix of the
//! first block never exists, and one `gemm` per band writes the output rows.

use std::sync::OnceLock;

use candle_core::Tensor;
use rayon::prelude::*;

use super::cpu::{Elem, by_dtype, dims3, is_cpu, tensor, with_slice};
use super::winograd;
use crate::error::Result;

/// A 3×3 convolution's weights `(C_out, C_in, 3, 3)`, with the forms the CPU
/// kernels precompute from them once per model rather than once per call.
#[derive(Clone, Debug)]
pub(crate) struct Kernel3x3 {
    w: Tensor,
    /// Winograd-transformed weights, `(36, C_out, C_in)`, made on first use.
    winograd: OnceLock<Tensor>,
}

impl Kernel3x3 {
    pub(crate) fn weights(&self) -> &Tensor {
        &self.w
    }

    pub(crate) fn new(w: Tensor) -> Kernel3x3 {
        Kernel3x3 {
            w,
            winograd: OnceLock::new(),
        }
    }

    fn winograd_weights<T: Elem>(&self) -> Result<&Tensor> {
        if let Some(u) = self.winograd.get() {
            return Ok(u);
        }
        let (c_out, c_in) = (self.w.dim(0)?, self.w.dim(1)?);
        let u = with_slice::<T, _>(&self.w, |w| winograd::transform_weights(w, c_out, c_in))?;
        let u = tensor(u, &[winograd::XI, c_out, c_in])?;
        Ok(self.winograd.get_or_init(|| u))
    }
}

/// Bytes of im2col buffer per band: large enough for efficient `gemm`
/// calls, small enough to stay in the last-level cache.
const BAND_BYTES: usize = 4 << 20;

/// `relu?(conv(x, w) + b)` for `x: (C_in, H, W)` or a batch `(N, C_in, H, W)`,
/// `w: (C_out, C_in, 3, 3)`, `b: (C_out)`.
pub(crate) fn conv3x3(x: &Tensor, k: &Kernel3x3, b: Option<&Tensor>, relu: bool) -> Result<Tensor> {
    let batch = x.rank() == 4;
    if !is_cpu(x) {
        let x4 = if batch { x.clone() } else { x.unsqueeze(0)? };
        let y = x4.conv2d(&k.w, 1, 1, 1, 1)?;
        #[cfg(feature = "cuda")]
        if let Some(b) = b
            && super::cuda::applies(&y, b)
        {
            // The convolution's output is this function's own: add the
            // bias and apply the ReLU in place, one launch.
            super::cuda::bias_relu_in_place(&y, b, relu)?;
            return Ok(if batch { y } else { y.squeeze(0)? });
        }
        let y = match b {
            Some(b) => y.broadcast_add(&b.reshape((b.dim(0)?, 1, 1))?)?,
            None => y,
        };
        let y = if relu { y.relu()? } else { y };
        return Ok(if batch { y } else { y.squeeze(0)? });
    }
    if batch {
        return super::each_picture(x, |x| conv3x3(x, k, b, relu));
    }
    by_dtype!(x, conv_cpu(x, k, b, relu))
}

/// Gradient with respect to the input of a convolution, given the gradient
/// `g: (C_out, H, W)` (or `(N, C_out, H, W)`) at its (pre-activation) output and `w_back: (C_in, C_out, 3, 3)`.
pub(crate) fn conv3x3_backward(g: &Tensor, w_back: &Kernel3x3) -> Result<Tensor> {
    conv3x3(g, w_back, None, false)
}

/// `g ⊙ [act > 0]`: the gradient through a ReLU, given its output (any shape).
pub(crate) fn relu_backward(g: &Tensor, act: &Tensor) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if super::cuda::applies(g, act) {
        return super::cuda::relu_backward(g, act);
    }
    if !is_cpu(g) {
        let mask = act.gt(0.0)?.to_dtype(g.dtype())?;
        return Ok((g * mask)?);
    }
    by_dtype!(g, relu_backward_cpu(g, act))
}

fn relu_backward_cpu<T: Elem>(g: &Tensor, act: &Tensor) -> Result<Tensor> {
    let zero = T::from_f64(0.0);
    let out = with_slice::<T, _>(g, |g| {
        with_slice::<T, _>(act, |a| {
            let mut out = vec![zero; g.len()];
            out.par_chunks_mut(1 << 14)
                .zip(g.par_chunks(1 << 14).zip(a.par_chunks(1 << 14)))
                .for_each(|(o, (g, a))| {
                    for ((o, &g), &a) in o.iter_mut().zip(g).zip(a) {
                        *o = if a > zero { g } else { zero };
                    }
                });
            out
        })
    })??;
    tensor(out, g.dims())
}

fn conv_cpu<T: Elem>(x: &Tensor, k: &Kernel3x3, b: Option<&Tensor>, relu: bool) -> Result<Tensor> {
    let (c_in, h, wd) = dims3(x)?;
    let c_out = k.w.dim(0)?;
    let bias = match b {
        Some(b) => Some(b.to_vec1::<T>()?),
        None => None,
    };
    let bias = bias.as_deref();
    let out = if use_winograd(c_in, c_out, h * wd) {
        let u = k.winograd_weights::<T>()?;
        with_slice::<T, _>(x, |x| {
            with_slice::<T, _>(u, |u| {
                winograd::conv_winograd(x, c_in, h, wd, u, c_out, bias, relu)
            })
        })??
    } else {
        with_slice::<T, _>(x, |x| {
            with_slice::<T, _>(&k.w, |w| conv_im2col(x, c_in, h, wd, w, c_out, bias, relu))
        })??
    };
    tensor(out, &[c_out, h, wd])
}

/// Winograd where both channel counts fill a `gemm` and the image has enough
/// tiles for the 16 products to be efficient; im2col for the first layer
/// (3 input channels), its gradient (3 outputs) and the smallest maps.
/// `STYLEFARM_CONV=im2col` forces im2col everywhere (for comparisons).
fn use_winograd(c_in: usize, c_out: usize, hw: usize) -> bool {
    static IM2COL: OnceLock<bool> = OnceLock::new();
    let forced =
        *IM2COL.get_or_init(|| std::env::var("STYLEFARM_CONV").is_ok_and(|v| v == "im2col"));
    !forced && c_in >= 16 && c_out >= 16 && hw >= MIN_WINOGRAD_PIXELS
}

/// Below this many pixels per map im2col's single large product wins.
const MIN_WINOGRAD_PIXELS: usize = 128;

#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_im2col<T: Elem>(
    x: &[T],
    c_in: usize,
    h: usize,
    w: usize,
    wt: &[T],
    c_out: usize,
    bias: Option<&[T]>,
    relu: bool,
) -> Vec<T> {
    let zero = T::from_f64(0.0);
    let hw = h * w;
    let k = c_in * 9;
    let mut out = vec![zero; c_out * hw];
    if hw == 0 {
        return out;
    }
    let band_rows = (BAND_BYTES / (k * w * std::mem::size_of::<T>())).clamp(1, h);
    let mut col = vec![zero; k * band_rows * w];
    let threads = rayon::current_num_threads();
    let mut y0 = 0;
    while y0 < h {
        let rows = band_rows.min(h - y0);
        let n = rows * w;
        im2col(x, h, w, y0, rows, &mut col[..k * n]);
        // SAFETY: dst is `c_out` rows of stride `hw` starting at column y0·w with
        // `n` columns, all inside `out`; lhs is `c_out × k`, rhs is `k × n`.
        unsafe {
            gemm::gemm(
                c_out,
                n,
                k,
                out.as_mut_ptr().add(y0 * w),
                1,
                hw as isize,
                false,
                wt.as_ptr(),
                1,
                k as isize,
                col.as_ptr(),
                1,
                n as isize,
                zero,
                T::from_f64(1.0),
                false,
                false,
                false,
                gemm::Parallelism::Rayon(threads),
            );
        }
        y0 += rows;
    }
    if bias.is_some() || relu {
        out.par_chunks_mut(hw).enumerate().for_each(|(o, plane)| {
            let b = bias.map_or(zero, |b| b[o]);
            for v in plane.iter_mut() {
                let t = *v + b;
                *v = if relu && t <= zero { zero } else { t };
            }
        });
    }
    out
}

/// Column matrix of rows `y0..y0+rows`: row `(c·9 + ky·3 + kx)` holds input
/// channel `c` shifted by `(ky-1, kx-1)`, zero outside the image.
fn im2col<T: Elem>(x: &[T], h: usize, w: usize, y0: usize, rows: usize, col: &mut [T]) {
    let zero = T::from_f64(0.0);
    let n = rows * w;
    col.par_chunks_mut(n).enumerate().for_each(|(r, dst)| {
        let (c, ky, kx) = (r / 9, (r % 9) / 3, r % 3);
        let plane = &x[c * h * w..(c + 1) * h * w];
        for yy in 0..rows {
            let d = &mut dst[yy * w..(yy + 1) * w];
            let sy = (y0 + yy + ky) as isize - 1;
            if sy < 0 || sy >= h as isize {
                d.fill(zero);
                continue;
            }
            let src = &plane[sy as usize * w..(sy as usize + 1) * w];
            match kx {
                0 => {
                    d[0] = zero;
                    d[1..].copy_from_slice(&src[..w - 1]);
                }
                1 => d.copy_from_slice(src),
                _ => {
                    d[..w - 1].copy_from_slice(&src[1..]);
                    d[w - 1] = zero;
                }
            }
        }
    });
}
