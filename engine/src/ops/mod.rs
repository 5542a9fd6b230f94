//! The network's operations on `(C, H, W)` tensors, or batches of them
//! `(N, C, H, W)`, forward and backward.
//!
//! Each function dispatches on the tensor's device: on the CPU it runs the
//! engine's own kernels (Winograd F(2×2, 3×3) or banded im2col over `gemm`,
//! fused epilogues); on CUDA candle's operations (cuDNN, cuBLAS) and, where
//! candle would compose many launches, the engine's own kernels (`cuda/`);
//! on any other device candle's operations alone. Callers never see which.
//!
//! Only what the image gradient needs exists here: no weight gradients.
//!
//! A batch runs as one launch per operation on a GPU (candle's NCHW
//! convolutions and poolings); the CPU kernels take one picture at a time
//! (they already use every core on one), so a batch there is a loop and
//! each picture's numbers are those of its render alone.

mod conv;
mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
mod pad;
mod pool;
mod round;
pub mod vector;
mod winograd;

pub(crate) use conv::{Kernel3x3, conv3x3, conv3x3_backward, relu_backward};
pub(crate) use pad::{circular_fold1, circular_pad1, crop1};
pub(crate) use pool::{avg_pool2, avg_pool2_backward, max_pool2_backward, max_pool2_indexed};
pub(crate) use round::{BF16_MANTISSA, TF32_MANTISSA, round_mantissa};

#[cfg(test)]
mod tests;

use candle_core::Tensor;

use crate::error::Result;

/// `f` on each picture `(C, H, W)` of a batch `(N, C, H, W)`, stacked again.
pub(crate) fn each_picture(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let ys = (0..x.dim(0)?)
        .map(|i| f(&x.get(i)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&ys, 0)?)
}

/// A batch `(N, C, H, W)` seen as `(N·C, H, W)`: per-channel operations
/// (pooling) treat every picture's channels alike.
pub(crate) fn as_planes(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    Ok(x.reshape((n * c, h, w))?)
}
