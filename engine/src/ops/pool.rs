//! 2×2, stride 2 pooling (floor mode: an odd last row or column is dropped,
//! as in Caffe's and PyTorch's VGG), forward and backward.

use candle_core::Tensor;
use rayon::prelude::*;

use super::cpu::{Elem, by_dtype, dims3, is_cpu, tensor, with_slice};
use crate::error::Result;

/// `(C, H, W)` → `(C, H/2, W/2)`, or the same per picture of `(N, C, H, W)`.
pub(crate) fn max_pool2(x: &Tensor) -> Result<Tensor> {
    if x.rank() == 4 {
        return batched(x, max_pool2);
    }
    if !is_cpu(x) {
        return Ok(x.unsqueeze(0)?.max_pool2d(2)?.squeeze(0)?);
    }
    by_dtype!(x, pool_cpu(x, true))
}

/// [`max_pool2`] that also keeps which input each window took, where the
/// engine's CUDA kernel serves `x` (f32 or bf16, contiguous): the argmax is
/// u8 `(P, H/2, W/2)` over the input's planes (`P = C`, or `N·C` for a
/// batch), for [`max_pool2_backward`]; elsewhere `None`, and the backward
/// finds each window's maximum again.
pub(crate) fn max_pool2_indexed(x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
    #[cfg(feature = "cuda")]
    if super::cuda::applies(x, x) {
        let planes = planes(x)?;
        let (pooled, argmax) = super::cuda::max_pool2_with_argmax(&planes)?;
        let mut dims = x.dims().to_vec();
        let r = dims.len();
        (dims[r - 2], dims[r - 1]) = (dims[r - 2] / 2, dims[r - 1] / 2);
        return Ok((pooled.reshape(dims)?, Some(argmax)));
    }
    Ok((max_pool2(x)?, None))
}

/// As [`max_pool2`], averaging each window.
pub(crate) fn avg_pool2(x: &Tensor) -> Result<Tensor> {
    if x.rank() == 4 {
        return batched(x, avg_pool2);
    }
    if !is_cpu(x) {
        return Ok(x.unsqueeze(0)?.avg_pool2d(2)?.squeeze(0)?);
    }
    by_dtype!(x, pool_cpu(x, false))
}

/// Routes each output gradient to the first maximum of its 2×2 window in the
/// forward input `x` (candle's own max-pool gradient is wrong; see
/// ENGINE-NOTES), read from `argmax` where [`max_pool2_indexed`] kept one.
pub(crate) fn max_pool2_backward(
    g: &Tensor,
    x: &Tensor,
    argmax: Option<&Tensor>,
) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if let Some(argmax) = argmax {
        let (h, w) = (x.dim(x.rank() - 2)?, x.dim(x.rank() - 1)?);
        let g = planes(&g.contiguous()?)?;
        let gx = super::cuda::max_pool2_backward_argmax(&g, argmax, h, w)?;
        return Ok(gx.reshape(x.dims())?);
    }
    #[cfg(not(feature = "cuda"))]
    debug_assert!(argmax.is_none(), "only the CUDA kernel keeps an argmax");
    if x.rank() == 4 {
        return batched_backward(g, x, |g, x| max_pool2_backward(g, x, None));
    }
    #[cfg(feature = "cuda")]
    if super::cuda::applies(g, x) {
        return super::cuda::max_pool2_backward(g, x);
    }
    if !is_cpu(g) {
        return max_pool2_backward_tensor(g, x);
    }
    by_dtype!(g, pool_backward_cpu(g, x, true))
}

/// A batch `(N, C, H, W)` as its planes `(N·C, H, W)`; `(C, H, W)` as is.
#[cfg(feature = "cuda")]
fn planes(x: &Tensor) -> Result<Tensor> {
    match x.rank() {
        4 => super::as_planes(x),
        _ => Ok(x.clone()),
    }
}

/// Spreads each output gradient evenly over its 2×2 window.
pub(crate) fn avg_pool2_backward(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    if x.rank() == 4 {
        return batched_backward(g, x, avg_pool2_backward);
    }
    if !is_cpu(g) {
        let (_, h, w) = dims3(x)?;
        let up = g
            .unsqueeze(0)?
            .upsample_nearest2d(h / 2 * 2, w / 2 * 2)?
            .squeeze(0)?;
        return Ok((pad_to(&up, h, w)? * 0.25)?);
    }
    by_dtype!(g, pool_backward_cpu(g, x, false))
}

/// A pooling of `(N, C, H, W)` as one of `(N·C, H, W)`: each plane alone.
fn batched(x: &Tensor, pool: fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    Ok(pool(&super::as_planes(x)?)?.reshape((n, c, h / 2, w / 2))?)
}

/// A pooling's backward over `(N, C, H, W)`, plane by plane as [`batched`].
fn batched_backward(
    g: &Tensor,
    x: &Tensor,
    backward: fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let gx = backward(&super::as_planes(g)?, &super::as_planes(x)?)?;
    Ok(gx.reshape(x.dims())?)
}

fn pool_cpu<T: Elem>(x: &Tensor, max: bool) -> Result<Tensor> {
    let (c, h, w) = dims3(x)?;
    let (oh, ow) = (h / 2, w / 2);
    let quarter = T::from_f64(0.25);
    let out = with_slice::<T, _>(x, |x| {
        let mut out = vec![T::default(); c * oh * ow];
        if oh * ow == 0 {
            return out;
        }
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(ch, dst)| {
                let p = &x[ch * h * w..(ch + 1) * h * w];
                for oy in 0..oh {
                    let (r0, r1) = (&p[2 * oy * w..], &p[(2 * oy + 1) * w..]);
                    for ox in 0..ow {
                        let v = [r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]];
                        dst[oy * ow + ox] = if max {
                            v.into_iter().fold(v[0], |m, a| if a > m { a } else { m })
                        } else {
                            (v[0] + v[1] + v[2] + v[3]) * quarter
                        };
                    }
                }
            });
        out
    })?;
    tensor(out, &[c, oh, ow])
}

fn pool_backward_cpu<T: Elem>(g: &Tensor, x: &Tensor, max: bool) -> Result<Tensor> {
    let (c, h, w) = dims3(x)?;
    let (oh, ow) = (h / 2, w / 2);
    let quarter = T::from_f64(0.25);
    let out = with_slice::<T, _>(g, |g| {
        with_slice::<T, _>(x, |x| {
            let mut out = vec![T::default(); c * h * w];
            out.par_chunks_mut(h * w).enumerate().for_each(|(ch, dst)| {
                let p = &x[ch * h * w..(ch + 1) * h * w];
                let gp = &g[ch * oh * ow..(ch + 1) * oh * ow];
                for oy in 0..oh {
                    for ox in 0..ow {
                        let gv = gp[oy * ow + ox];
                        let idx = [
                            2 * oy * w + 2 * ox,
                            2 * oy * w + 2 * ox + 1,
                            (2 * oy + 1) * w + 2 * ox,
                            (2 * oy + 1) * w + 2 * ox + 1,
                        ];
                        if max {
                            let mut best = idx[0];
                            for &i in &idx[1..] {
                                if p[i] > p[best] {
                                    best = i;
                                }
                            }
                            dst[best] += gv;
                        } else {
                            for i in idx {
                                dst[i] += gv * quarter;
                            }
                        }
                    }
                }
            });
            out
        })
    })??;
    tensor(out, &[c, h, w])
}

/// Device-agnostic max-pool backward: the gradient goes to every position
/// equal to its window's maximum. Ties between distinct positions only happen
/// on ReLU zeros, whose gradient the ReLU below masks anyway.
fn max_pool2_backward_tensor(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    let (_, h, w) = dims3(x)?;
    let (h2, w2) = (h / 2 * 2, w / 2 * 2);
    let xc = x.narrow(1, 0, h2)?.narrow(2, 0, w2)?;
    let m = xc
        .unsqueeze(0)?
        .max_pool2d(2)?
        .upsample_nearest2d(h2, w2)?
        .squeeze(0)?;
    let mask = xc.eq(&m)?.to_dtype(g.dtype())?;
    let up = g.unsqueeze(0)?.upsample_nearest2d(h2, w2)?.squeeze(0)?;
    pad_to(&(up * mask)?, h, w)
}

/// Zero-pads `(C, h2, w2)` at the bottom/right to `(C, h, w)`.
fn pad_to(t: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (_, h2, w2) = dims3(t)?;
    Ok(t.pad_with_zeros(1, 0, h - h2)?
        .pad_with_zeros(2, 0, w - w2)?)
}
