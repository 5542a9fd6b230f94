//! Circular padding for tileable textures: a 3×3 "same" convolution of the
//! circularly padded input, cropped, is the circular convolution; its input
//! gradient folds the padded border back onto the opposite edges.
//! Composed from candle operations: the border is one pixel wide, so these
//! cost little next to the convolution, on any device.

use candle_core::Tensor;

use crate::error::Result;

/// `(…, H, W)` → `(…, H+2, W+2)` wrapping around both spatial axes (the last
/// two: a picture `(C, H, W)` or a batch `(N, C, H, W)`).
pub(crate) fn circular_pad1(x: &Tensor) -> Result<Tensor> {
    let r = x.rank();
    let x = wrap(x, r - 2)?;
    wrap(&x, r - 1)
}

fn wrap(x: &Tensor, dim: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    let first = x.narrow(dim, 0, 1)?;
    let last = x.narrow(dim, n - 1, 1)?;
    Ok(Tensor::cat(&[&last, x, &first], dim)?)
}

/// The gradient of [`circular_pad1`]: `(…, H+2, W+2)` → `(…, H, W)`.
pub(crate) fn circular_fold1(g: &Tensor) -> Result<Tensor> {
    let r = g.rank();
    let g = fold(g, r - 1)?;
    fold(&g, r - 2)
}

fn fold(g: &Tensor, dim: usize) -> Result<Tensor> {
    let n = g.dim(dim)? - 2;
    let inner = g.narrow(dim, 1, n)?;
    // The padded first entry is a copy of the last, and the padded last a copy of the first.
    let to_last = g.narrow(dim, 0, 1)?.pad_with_zeros(dim, n - 1, 0)?;
    let to_first = g.narrow(dim, n + 1, 1)?.pad_with_zeros(dim, 0, n - 1)?;
    Ok(((inner + to_last)? + to_first)?)
}

/// Crops one pixel from every side: `(…, H+2, W+2)` → `(…, H, W)`.
pub(crate) fn crop1(x: &Tensor) -> Result<Tensor> {
    let r = x.rank();
    let (h, w) = (x.dim(r - 2)?, x.dim(r - 1)?);
    Ok(x.narrow(r - 2, 1, h - 2)?
        .narrow(r - 1, 1, w - 2)?
        .contiguous()?)
}
