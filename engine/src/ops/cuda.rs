//! The engine's own CUDA kernels (`cuda/kernels.cu`) as candle custom ops:
//! one launch where candle's own operations take several (the ReLU mask: a
//! comparison, a cast and a product; the max-pool routing: pooling,
//! upsampling, comparison and products; total variation: a dozen narrows,
//! differences, paddings and products). Contiguous f32 or bf16 tensors only
//! (total variation: f32); callers fall back to candle's operations for
//! anything else.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, CudaView, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use candle_core::cuda_backend::{CudaDType, CudaStorage};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use half::bf16;

use crate::error::Result;

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/kernels.ptx"));
const MODULE: &str = "stylefarm_engine_kernels";

/// Whether the custom kernels serve these tensors.
pub(crate) fn applies(a: &Tensor, b: &Tensor) -> bool {
    a.device().is_cuda()
        && a.dtype() == b.dtype()
        && matches!(a.dtype(), DType::F32 | DType::BF16)
        && a.is_contiguous()
        && b.is_contiguous()
}

/// `g ⊙ [act > 0]` in one launch.
pub(crate) fn relu_backward(g: &Tensor, act: &Tensor) -> Result<Tensor> {
    Ok(g.apply_op2_no_bwd(act, &Backward::Relu)?)
}

/// Max-pool 2×2 backward in one launch: `g: (C, H/2, W/2)`, `x: (C, H, W)`.
pub(crate) fn max_pool2_backward(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    Ok(g.apply_op2_no_bwd(x, &Backward::MaxPool2)?)
}

/// Total variation of `x: (C, H, W)` (f32, contiguous, on CUDA, H and W ≥ 2)
/// in one launch: `Σ (dx² + dy²)` as a 0-dim f32 tensor (one more launch to
/// sum) and the gradient of `weight/2 · Σ (dx² + dy²)`, as
/// `loss::total_variation`.
pub(crate) fn total_variation(x: &Tensor, weight: f64) -> Result<(Tensor, Tensor)> {
    let out = x.apply_op1_no_bwd(&TotalVariation {
        weight: weight as f32,
    })?;
    Ok((out.get(1)?.sum_all()?, out.get(0)?))
}

/// Whether [`total_variation`] serves `x`.
pub(crate) fn total_variation_applies(x: &Tensor) -> bool {
    x.device().is_cuda() && x.dtype() == DType::F32 && x.is_contiguous() && x.rank() == 3
}

struct TotalVariation {
    weight: f32,
}

impl CustomOp1 for TotalVariation {
    fn name(&self) -> &'static str {
        "total-variation"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(unsupported(self.name()))
    }

    fn cuda_fwd(&self, x: &CudaStorage, lx: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        let (c, h, w) = lx.shape().dims3()?;
        if x.dtype() != DType::F32 {
            candle_core::bail!("{}: f32, not {:?}", self.name(), x.dtype());
        }
        let n = c * h * w;
        let f = x
            .device
            .get_or_load_custom_func("total_variation_f32", MODULE, PTX)?;
        // SAFETY: every element of `out` is written by the kernel below.
        let out: CudaSlice<f32> = unsafe { x.device.alloc::<f32>(2 * n)? };
        let xv = view::<f32>(x, lx)?;
        let (c32, h32, w32) = (c as u32, h as u32, w as u32);
        let mut b = f.builder();
        b.arg(&c32)
            .arg(&h32)
            .arg(&w32)
            .arg(&self.weight)
            .arg(&xv)
            .arg(&out);
        // SAFETY: argument types and counts match the kernel's signature.
        unsafe { b.launch(LaunchConfig::for_num_elems(n.max(1) as u32)) }
            .map_err(candle_core::Error::wrap)?;
        let shape = Shape::from_dims(&[2, c, h, w]);
        Ok((CudaStorage::wrap_cuda_slice(out, x.device.clone()), shape))
    }
}

fn unsupported(name: &str) -> candle_core::Error {
    candle_core::Error::Msg(format!("{name} runs on CUDA only"))
}

/// The device slice behind a contiguous storage, from its start offset.
fn view<'a, T: CudaDType>(s: &'a CudaStorage, l: &Layout) -> candle_core::Result<CudaView<'a, T>> {
    let (start, end) = l.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg("the engine's kernels need contiguous tensors".into())
    })?;
    Ok(s.as_cuda_slice::<T>()?.slice(start..end))
}

/// The kernel `root` for the storage's dtype (`root_f32`, `root_bf16`).
fn kernel_name(s: &CudaStorage, root: &str) -> candle_core::Result<String> {
    Ok(match s.dtype() {
        DType::F32 => format!("{root}_f32"),
        DType::BF16 => format!("{root}_bf16"),
        other => candle_core::bail!("{root}: f32 or bf16, not {other:?}"),
    })
}

fn launch_relu<T: CudaDType + DeviceRepr>(
    g: &CudaStorage,
    lg: &Layout,
    a: &CudaStorage,
    la: &Layout,
) -> candle_core::Result<CudaStorage> {
    let n = lg.shape().elem_count();
    let f = g
        .device
        .get_or_load_custom_func(&kernel_name(g, "relu_backward")?, MODULE, PTX)?;
    // SAFETY: every element of `out` is written by the kernel below.
    let out: CudaSlice<T> = unsafe { g.device.alloc::<T>(n)? };
    let (gv, av) = (view::<T>(g, lg)?, view::<T>(a, la)?);
    let n32 = n as u32;
    let mut b = f.builder();
    b.arg(&n32).arg(&gv).arg(&av).arg(&out);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { b.launch(LaunchConfig::for_num_elems(n32)) }.map_err(candle_core::Error::wrap)?;
    Ok(CudaStorage::wrap_cuda_slice(out, g.device.clone()))
}

fn launch_pool<T: CudaDType + DeviceRepr + ValidAsZeroBits>(
    g: &CudaStorage,
    lg: &Layout,
    x: &CudaStorage,
    lx: &Layout,
) -> candle_core::Result<CudaStorage> {
    let (c, h, w) = lx.shape().dims3()?;
    if lg.shape().dims() != [c, h / 2, w / 2] {
        candle_core::bail!(
            "max-pool backward: gradient {:?} for input {:?}",
            lg.shape(),
            lx.shape()
        );
    }
    let f =
        g.device
            .get_or_load_custom_func(&kernel_name(g, "max_pool2_backward")?, MODULE, PTX)?;
    let out: CudaSlice<T> = g.device.alloc_zeros::<T>(c * h * w)?;
    let (gv, xv) = (view::<T>(g, lg)?, view::<T>(x, lx)?);
    let (c32, h32, w32) = (c as u32, h as u32, w as u32);
    let windows = (c * (h / 2) * (w / 2)).max(1) as u32;
    let mut b = f.builder();
    b.arg(&c32).arg(&h32).arg(&w32).arg(&gv).arg(&xv).arg(&out);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { b.launch(LaunchConfig::for_num_elems(windows)) }.map_err(candle_core::Error::wrap)?;
    Ok(CudaStorage::wrap_cuda_slice(out, g.device.clone()))
}

/// One of the backward kernels as a candle custom op on `(g, other)`.
#[derive(Clone, Copy)]
enum Backward {
    /// `other` is the ReLU's output.
    Relu,
    /// `other` is the pooling's input.
    MaxPool2,
}

impl CustomOp2 for Backward {
    fn name(&self) -> &'static str {
        match self {
            Backward::Relu => "relu-backward",
            Backward::MaxPool2 => "max-pool2-backward",
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

    fn cuda_fwd(
        &self,
        g: &CudaStorage,
        lg: &Layout,
        o: &CudaStorage,
        lo: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let out = match (self, g.dtype()) {
            (Backward::Relu, DType::F32) => launch_relu::<f32>(g, lg, o, lo)?,
            (Backward::Relu, DType::BF16) => launch_relu::<bf16>(g, lg, o, lo)?,
            (Backward::MaxPool2, DType::F32) => launch_pool::<f32>(g, lg, o, lo)?,
            (Backward::MaxPool2, DType::BF16) => launch_pool::<bf16>(g, lg, o, lo)?,
            (_, other) => candle_core::bail!("{}: f32 or bf16, not {other:?}", self.name()),
        };
        // The gradient has the shape of the tensor it flows back into.
        Ok((out, lo.shape().clone()))
    }
}
