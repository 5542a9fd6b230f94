//! The engine's own CUDA kernels (`cuda/kernels.cu`) as candle custom ops,
//! one launch where candle's own operations take several:
//!
//! - a convolution's bias and ReLU, in place (a broadcast add and a ReLU);
//! - the ReLU mask (a comparison, a cast and a product);
//! - max-pool forward with its argmax, and the backward routing by it or by
//!   the input (pooling, upsampling, comparison and products);
//! - the content, style and temporal terms (a difference, its square, a
//!   sum's product and a scaling each); total variation (a dozen narrows,
//!   differences, paddings and products);
//! - L-BFGS's two-loop recursion on dot products (five launches per
//!   curvature pair and loop) and an Adam step (a dozen).
//!
//! Contiguous tensors only, f32 or bf16 for the network's operations and
//! f32 for the losses and optimisers; callers ask `applies` first and fall
//! back to candle's operations for anything else.

mod losses;
mod network;
mod optim;

pub(crate) use losses::{
    applies_f32, difference, total_variation, total_variation_applies, weighted_difference,
};
pub(crate) use network::{
    bias_relu_in_place, max_pool2_backward, max_pool2_backward_argmax, max_pool2_with_argmax,
    relu_backward,
};
pub(crate) use optim::{AdamStep, adam_step, lbfgs_coefficients};

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::CudaView;
use candle_core::cuda_backend::{CudaDType, CudaStorage};
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, InplaceOp2, Layout, Shape, Tensor,
};

pub(crate) const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/kernels.ptx"));
pub(crate) const MODULE: &str = "stylefarm_engine_kernels";

/// Whether the network kernels serve these tensors: on CUDA, one dtype
/// (f32 or bf16), contiguous, each within the kernels' 32-bit counts.
pub(crate) fn applies(a: &Tensor, b: &Tensor) -> bool {
    a.device().is_cuda()
        && a.dtype() == b.dtype()
        && matches!(a.dtype(), DType::F32 | DType::BF16)
        && [a, b].iter().all(|t| t.is_contiguous() && fits_u32(t))
}

/// Whether a tensor's element count fits the kernels' `unsigned int` counts
/// (past it they would cover only part of it, silently).
pub(crate) fn fits_u32(t: &Tensor) -> bool {
    t.elem_count() <= u32::MAX as usize
}

/// The error of a kernel asked to run on the CPU.
pub(crate) fn unsupported(name: &str) -> candle_core::Error {
    candle_core::Error::Msg(format!("{name} runs on CUDA only"))
}

/// The device slice behind a contiguous storage, from its start offset.
pub(crate) fn view<'a, T: CudaDType>(
    s: &'a CudaStorage,
    l: &Layout,
) -> candle_core::Result<CudaView<'a, T>> {
    let (start, end) = l.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg("the engine's kernels need contiguous tensors".into())
    })?;
    Ok(s.as_cuda_slice::<T>()?.slice(start..end))
}

/// The kernel `root` for the storage's dtype (`root_f32`, `root_bf16`).
pub(crate) fn kernel_name(s: &CudaStorage, root: &str) -> candle_core::Result<String> {
    Ok(match s.dtype() {
        DType::F32 => format!("{root}_f32"),
        DType::BF16 => format!("{root}_bf16"),
        other => candle_core::bail!("{root}: f32 or bf16, not {other:?}"),
    })
}

/// Fails unless `s` holds f32 (the loss kernels').
pub(crate) fn expect_f32(s: &CudaStorage, name: &str) -> candle_core::Result<()> {
    match s.dtype() {
        DType::F32 => Ok(()),
        other => candle_core::bail!("{name}: f32, not {other:?}"),
    }
}

/// A cudarc launch error as candle's.
pub(crate) fn wrap(e: impl std::error::Error + Send + Sync + 'static) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

/// The result of a kernel op: the output storage and its shape.
type Out = candle_core::Result<(CudaStorage, Shape)>;

/// The kernels of one input as a candle custom op.
pub(crate) enum Op1<'a> {
    /// `losses::total_variation`.
    TotalVariation { weight: f32 },
    /// Max-pool forward, leaving its argmax in the slot.
    MaxPool2 { argmax: &'a network::Stash },
    /// The argmax a `MaxPool2` left in the slot.
    TakeArgmax { from: &'a network::Stash },
}

impl CustomOp1 for Op1<'_> {
    fn name(&self) -> &'static str {
        match self {
            Op1::TotalVariation { .. } => "total-variation",
            Op1::MaxPool2 { .. } => "max-pool2-forward",
            Op1::TakeArgmax { .. } => "max-pool2-argmax",
        }
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(unsupported(self.name()))
    }

    fn cuda_fwd(&self, x: &CudaStorage, lx: &Layout) -> Out {
        match self {
            Op1::TotalVariation { weight } => losses::total_variation_fwd(*weight, x, lx),
            Op1::MaxPool2 { argmax } => network::max_pool2_fwd(argmax, x, lx),
            Op1::TakeArgmax { from } => network::take_argmax(from),
        }
    }
}

/// The kernels of two inputs as a candle custom op.
pub(crate) enum Op2 {
    /// `g ⊙ [act > 0]` on `(g, act)`.
    Relu,
    /// Max-pool backward on `(g, x)`, `x` the forward's input.
    MaxPool2Backward,
    /// Max-pool backward on `(g, argmax)` into `(C, h, w)`.
    RouteByArgmax { h: usize, w: usize },
    /// `losses::difference` on `(a, b)`.
    Difference { s: f32, k: f32 },
    /// `optim::lbfgs_coefficients` on `(dots, mg)`.
    LbfgsCoefficients { count: usize, oldest: usize, h: f64 },
}

impl CustomOp2 for Op2 {
    fn name(&self) -> &'static str {
        match self {
            Op2::Relu => "relu-backward",
            Op2::MaxPool2Backward => "max-pool2-backward",
            Op2::RouteByArgmax { .. } => "max-pool2-backward-argmax",
            Op2::Difference { .. } => "difference",
            Op2::LbfgsCoefficients { .. } => "lbfgs-coefficients",
        }
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(unsupported(self.name()))
    }

    fn cuda_fwd(&self, a: &CudaStorage, la: &Layout, b: &CudaStorage, lb: &Layout) -> Out {
        match *self {
            Op2::Relu => network::relu_backward_fwd(a, la, b, lb),
            Op2::MaxPool2Backward => network::max_pool2_backward_fwd(a, la, b, lb),
            Op2::RouteByArgmax { h, w } => network::route_by_argmax_fwd((h, w), a, la, b, lb),
            Op2::Difference { s, k } => losses::difference_fwd((s, k), a, la, b, lb),
            Op2::LbfgsCoefficients { count, oldest, h } => {
                optim::coefficients_fwd((count, oldest, h), a, la, b, lb)
            }
        }
    }
}

/// The kernels of three inputs as a candle custom op.
pub(crate) enum Op3 {
    /// `losses::weighted_difference` on `(a, b, c)`.
    WeightedDifference { k: f32 },
    /// `optim::adam_step` on `(x, g, moments)`.
    Adam(optim::AdamStep),
}

impl CustomOp3 for Op3 {
    fn name(&self) -> &'static str {
        match self {
            Op3::WeightedDifference { .. } => "weighted-difference",
            Op3::Adam(_) => "adam",
        }
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(unsupported(self.name()))
    }

    fn cuda_fwd(
        &self,
        a: &CudaStorage,
        la: &Layout,
        b: &CudaStorage,
        lb: &Layout,
        c: &CudaStorage,
        lc: &Layout,
    ) -> Out {
        match self {
            Op3::WeightedDifference { k } => {
                losses::weighted_difference_fwd(*k, (a, la), (b, lb), (c, lc))
            }
            Op3::Adam(step) => optim::adam_fwd(step, (a, la), (b, lb), (c, lc)),
        }
    }
}

/// The in-place kernel: a convolution's bias and ReLU on its output.
pub(crate) struct BiasRelu {
    pub(crate) relu: bool,
}

impl InplaceOp2 for BiasRelu {
    fn name(&self) -> &'static str {
        "bias-relu"
    }

    fn cpu_fwd(
        &self,
        _: &mut CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<()> {
        Err(unsupported(self.name()))
    }

    fn cuda_fwd(
        &self,
        y: &mut CudaStorage,
        ly: &Layout,
        b: &CudaStorage,
        lb: &Layout,
    ) -> candle_core::Result<()> {
        network::bias_relu_fwd(self.relu, y, ly, b, lb)
    }
}
