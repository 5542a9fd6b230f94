//! The engine's own CUDA kernels (`cuda/kernels.cu`) as candle custom ops:
//! one launch where candle's own operations take several (the ReLU mask: a
//! comparison, a cast and a product; the max-pool routing: pooling,
//! upsampling, comparison and products; the content, style and temporal
//! terms: a difference, its square, a sum's product and a scaling each;
//! total variation: a dozen narrows, differences, paddings and products;
//! L-BFGS's two-loop recursion: five launches per curvature pair and loop).
//! Contiguous tensors only, f32 or bf16 for the network's operations and
//! f32 for the losses; callers ask `applies` first and fall back to
//! candle's operations for anything else.

mod losses;
mod network;
mod optim;

pub(crate) use losses::{
    applies_f32, difference, total_variation, total_variation_applies, weighted_difference,
};
pub(crate) use network::{
    max_pool2_backward, max_pool2_backward_argmax, max_pool2_with_argmax, relu_backward,
};
pub(crate) use optim::lbfgs_coefficients;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::CudaView;
use candle_core::cuda_backend::{CudaDType, CudaStorage};
use candle_core::{DType, Layout, Tensor};

pub(crate) const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/kernels.ptx"));
pub(crate) const MODULE: &str = "stylefarm_engine_kernels";

/// Whether the network kernels serve these tensors: on CUDA, one dtype
/// (f32 or bf16), contiguous.
pub(crate) fn applies(a: &Tensor, b: &Tensor) -> bool {
    a.device().is_cuda()
        && a.dtype() == b.dtype()
        && matches!(a.dtype(), DType::F32 | DType::BF16)
        && a.is_contiguous()
        && b.is_contiguous()
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
