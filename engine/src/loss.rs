//! The loss terms of Gatys et al. in jcjohnson/neural-style's normalisation,
//! each with its gradient.
//!
//! - Gram `G = F Fᵀ / (C·H·W)` of features `F: (C, H·W)`;
//! - style `w · mean((G − A)²)`, gradient `4w (G − A) F / (C² · C·H·W)`;
//! - content `w · mean((F − P)²)`, gradient `2w (F − P) / N`;
//! - total variation `w/2 · Σ (Δx² + Δy²)` over the image, as neural-style's TVLoss;
//! - temporal `γ · mean(c ⊙ (x − ω)²)` against the previous frame warped (Ruder,
//!   Dosovitskiy & Brox 2016, eq. 7), gradient `2γ c ⊙ (x − ω) / N`.

use candle_core::Tensor;

use crate::error::Result;
use crate::ops::vector::{self, Sum};

/// Normalised Gram matrix `(C, C)` of `f: (C, H, W)`.
pub fn gram(f: &Tensor) -> Result<Tensor> {
    let (c, h, w) = f.dims3()?;
    let m = f.reshape((c, h * w))?;
    Ok((m.matmul(&m.t()?)? / (c * h * w) as f64)?)
}

/// Style loss of features `f` against target Gram `a`, and its gradient.
pub fn style(f: &Tensor, a: &Tensor, weight: f64) -> Result<(f64, Tensor)> {
    read(style_sum(f, a, weight)?)
}

/// [`style`] with the loss left on the device (see [`Sum`]).
pub fn style_sum(f: &Tensor, a: &Tensor, weight: f64) -> Result<(Sum, Tensor)> {
    let (c, h, w) = f.dims3()?;
    let m = f.reshape((c, h * w))?;
    let raw = m.matmul(&m.t()?)?;
    let (loss, grad) = style_from_gram(&raw, (c * h * w) as f64, a, weight, &m)?;
    Ok((loss, grad.reshape((c, h, w))?))
}

/// The style term from an unnormalised Gram matrix `raw = F Fᵀ: (C, C)`:
/// `d = raw/norm − target`, loss `w · Σ d² / C²`, gradient
/// `4w/(C²·norm) · d · rhs` with `rhs: (C, P)` the features the Gram came
/// from (`P` pixels; guide/gram.rs passes masked ones). On CUDA the
/// difference, its squares and the gradient's scale are one kernel
/// (`ops::cuda::difference`), the scale applied before the product rather
/// than after it.
pub(crate) fn style_from_gram(
    raw: &Tensor,
    norm: f64,
    target: &Tensor,
    weight: f64,
    rhs: &Tensor,
) -> Result<(Sum, Tensor)> {
    let c = raw.dim(0)?;
    let loss_scale = weight / (c * c) as f64;
    let grad_scale = 4.0 * weight / ((c * c) as f64 * norm);
    #[cfg(feature = "cuda")]
    if crate::ops::cuda::applies_f32(&[raw, target]) {
        let (squares, d) = crate::ops::cuda::difference(raw, target, 1.0 / norm, grad_scale)?;
        return Ok((device_sum(squares)?.scale(loss_scale)?, d.matmul(rhs)?));
    }
    let d = ((raw / norm)? - target)?;
    let loss = vector::dot_sum(&d, &d)?.scale(loss_scale)?;
    Ok((loss, (d.matmul(rhs)? * grad_scale)?))
}

/// Content loss of features `f` against target `p`, and its gradient.
pub fn content(f: &Tensor, p: &Tensor, weight: f64) -> Result<(f64, Tensor)> {
    read(content_sum(f, p, weight)?)
}

/// [`content`] with the loss left on the device (see [`Sum`]).
pub fn content_sum(f: &Tensor, p: &Tensor, weight: f64) -> Result<(Sum, Tensor)> {
    let n = f.elem_count() as f64;
    #[cfg(feature = "cuda")]
    if crate::ops::cuda::applies_f32(&[f, p]) && f.dims() == p.dims() {
        let (squares, grad) = crate::ops::cuda::difference(f, p, 1.0, 2.0 * weight / n)?;
        return Ok((device_sum(squares)?.scale(weight / n)?, grad));
    }
    let d = (f - p)?;
    let loss = vector::dot_sum(&d, &d)?.scale(weight / n)?;
    Ok((loss, (d * (2.0 * weight / n))?))
}

/// Total-variation loss of the image `x: (3, H, W)` and its gradient.
pub fn total_variation(x: &Tensor, weight: f64) -> Result<(f64, Tensor)> {
    read(total_variation_sum(x, weight)?)
}

/// [`total_variation`] with the loss left on the device (see [`Sum`]).
pub fn total_variation_sum(x: &Tensor, weight: f64) -> Result<(Sum, Tensor)> {
    let (_, h, w) = x.dims3()?;
    if h < 2 || w < 2 || weight == 0.0 {
        return Ok((Sum::zero(), x.zeros_like()?));
    }
    #[cfg(feature = "cuda")]
    if crate::ops::cuda::total_variation_applies(x) {
        let (squares, grad) = crate::ops::cuda::total_variation(x, weight)?;
        return Ok((device_sum(squares)?.scale(0.5 * weight)?, grad));
    }
    let corner = x.narrow(1, 0, h - 1)?.narrow(2, 0, w - 1)?;
    let right = x.narrow(1, 0, h - 1)?.narrow(2, 1, w - 1)?;
    let down = x.narrow(1, 1, h - 1)?.narrow(2, 0, w - 1)?;
    let dx = (&corner - right)?;
    let dy = (&corner - down)?;
    let loss = vector::dot_sum(&dx, &dx)?
        .plus(vector::dot_sum(&dy, &dy)?)?
        .scale(0.5 * weight)?;
    let g_corner = (&dx + &dy)?
        .pad_with_zeros(1, 0, 1)?
        .pad_with_zeros(2, 0, 1)?;
    let g_right = dx.pad_with_zeros(1, 0, 1)?.pad_with_zeros(2, 1, 0)?;
    let g_down = dy.pad_with_zeros(1, 1, 0)?.pad_with_zeros(2, 0, 1)?;
    let grad = (((g_corner - g_right)? - g_down)? * weight)?;
    Ok((loss, grad))
}

/// Temporal loss of the image `x: (3, H, W)` (network input units) against the
/// previous stylised frame warped to this one, `warped: (3, H, W)` in the same
/// units, weighted per pixel by the flow consistency `c: (1, H, W)` in 0..1
/// (broadcast over channels): `γ · Σ c (x − ω)² / (3·H·W)`, the mean over all
/// elements as artistic-videos' weighted MSE, and its gradient.
pub fn temporal(x: &Tensor, warped: &Tensor, c: &Tensor, weight: f64) -> Result<(f64, Tensor)> {
    read(temporal_sum(x, warped, c, weight)?)
}

/// [`temporal`] with the loss left on the device (see [`Sum`]).
pub fn temporal_sum(x: &Tensor, warped: &Tensor, c: &Tensor, weight: f64) -> Result<(Sum, Tensor)> {
    let n = x.elem_count() as f64;
    #[cfg(feature = "cuda")]
    if crate::ops::cuda::applies_f32(&[x, warped, c])
        && x.rank() == 3
        && x.dims() == warped.dims()
        && c.dims() == [1, x.dim(1)?, x.dim(2)?]
    {
        let (sum, grad) = crate::ops::cuda::weighted_difference(x, warped, c, 2.0 * weight / n)?;
        return Ok((device_sum(sum)?.scale(weight / n)?, grad));
    }
    let d = (x - warped)?;
    let cd = d.broadcast_mul(c)?;
    let loss = vector::dot_sum(&cd, &d)?.scale(weight / n)?;
    Ok((loss, (cd * (2.0 * weight / n))?))
}

/// neural-style's `-normalize_gradients`: the gradient divided by its L1
/// norm (on a GPU without leaving the device).
pub fn l1_normalize(g: &Tensor) -> Result<Tensor> {
    if !g.device().is_cpu() {
        let n = (g.abs()?.sum_all()? + 1e-8)?;
        return Ok(g.broadcast_div(&n)?);
    }
    let n = vector::sum_abs(g)?;
    Ok((g / (n + 1e-8))?)
}

/// Total variation with wrap-around differences (the last column against the
/// first, the last row against the first), for tileable images.
pub fn total_variation_circular(x: &Tensor, weight: f64) -> Result<(f64, Tensor)> {
    read(total_variation_circular_sum(x, weight)?)
}

/// [`total_variation_circular`] with the loss left on the device (see [`Sum`]).
pub fn total_variation_circular_sum(x: &Tensor, weight: f64) -> Result<(Sum, Tensor)> {
    if weight == 0.0 {
        return Ok((Sum::zero(), x.zeros_like()?));
    }
    let mut loss = Sum::zero();
    let mut grad = x.zeros_like()?;
    for dim in [1, 2] {
        // d = x − x shifted by one (with wrap); its gradient is d − d shifted back.
        let d = (x - x.roll(-1, dim)?)?;
        loss = loss.plus(vector::dot_sum(&d, &d)?.scale(0.5 * weight)?)?;
        grad = (grad + ((&d - d.roll(1, dim)?)? * weight)?)?;
    }
    Ok((loss, grad))
}

/// A kernel's f32 0-dim sum as a [`Sum`] on the device.
#[cfg(feature = "cuda")]
fn device_sum(t: Tensor) -> Result<Sum> {
    Ok(Sum::Device(t.to_dtype(candle_core::DType::F64)?))
}

/// A loss and its gradient, the loss read.
fn read((loss, grad): (Sum, Tensor)) -> Result<(f64, Tensor)> {
    Ok((loss.value()?, grad))
}
