//! The network's operations on `(C, H, W)` tensors, forward and backward.
//!
//! Each function dispatches on the tensor's device: on the CPU it runs the
//! engine's own kernels (Winograd F(2×2, 3×3) or banded im2col over `gemm`,
//! fused epilogues); on any other device it composes candle operations.
//! Callers never see which.
//!
//! Only what the image gradient needs exists here: no weight gradients.

mod conv;
mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod pad;
mod pool;
mod round;
pub mod vector;
mod winograd;

pub(crate) use conv::{Kernel3x3, conv3x3, conv3x3_backward, relu_backward};
pub(crate) use pad::{circular_fold1, circular_pad1, crop1};
pub(crate) use pool::{avg_pool2, avg_pool2_backward, max_pool2, max_pool2_backward};
pub(crate) use round::{BF16_MANTISSA, TF32_MANTISSA, round_mantissa};

#[cfg(test)]
mod tests;
