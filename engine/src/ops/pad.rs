//! Circular padding for tileable textures: a 3×3 "same" convolution of the
//! circularly padded input, cropped, is the circular convolution; its input
//! gradient folds the padded border back onto the opposite edges.
//! Composed from candle operations: the border is one pixel wide, so these
//! cost little next to the convolution, on any device.

use candle_core::Tensor;

use crate::error::Result;

/// `(C, H, W)` → `(C, H+2, W+2)` wrapping around both spatial axes.
pub(crate) fn circular_pad1(x: &Tensor) -> Result<Tensor> {
    let x = wrap(x, 1)?;
    wrap(&x, 2)
}

fn wrap(x: &Tensor, dim: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    let first = x.narrow(dim, 0, 1)?;
    let last = x.narrow(dim, n - 1, 1)?;
    Ok(Tensor::cat(&[&last, x, &first], dim)?)
}

/// The gradient of [`circular_pad1`]: `(C, H+2, W+2)` → `(C, H, W)`.
pub(crate) fn circular_fold1(g: &Tensor) -> Result<Tensor> {
    let g = fold(g, 2)?;
    fold(&g, 1)
}

fn fold(g: &Tensor, dim: usize) -> Result<Tensor> {
    let n = g.dim(dim)? - 2;
    let inner = g.narrow(dim, 1, n)?;
    // The padded first entry is a copy of the last, and the padded last a copy of the first.
    let to_last = g.narrow(dim, 0, 1)?.pad_with_zeros(dim, n - 1, 0)?;
    let to_first = g.narrow(dim, n + 1, 1)?.pad_with_zeros(dim, 0, n - 1)?;
    Ok(((inner + to_last)? + to_first)?)
}

/// Crops one pixel from every side: `(C, H+2, W+2)` → `(C, H, W)`.
pub(crate) fn crop1(x: &Tensor) -> Result<Tensor> {
    let (_, h, w) = x.dims3()?;
    Ok(x.narrow(1, 1, h - 2)?.narrow(2, 1, w - 2)?.contiguous()?)
}
