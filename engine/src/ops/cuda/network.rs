//! The network kernels: the ReLU mask and max-pool 2×2 forward (with its
//! argmax) and backward, f32 or bf16.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use candle_core::cuda_backend::{CudaDType, CudaStorage};
use candle_core::{DType, Layout, Shape, Tensor};
use half::bf16;

use super::{BiasRelu, MODULE, Op1, Op2, Out, PTX, kernel_name, view, wrap};
use crate::error::Result;

/// A convolution's epilogue in place, one launch: `y: (C, H, W)` or `(N, C,
/// H, W)` plus `b: (C)` per channel, then the ReLU where `relu`. `y` must
/// be a fresh output that no other tensor shares.
pub(crate) fn bias_relu_in_place(y: &Tensor, b: &Tensor, relu: bool) -> Result<()> {
    Ok(y.inplace_op2(b, &BiasRelu { relu })?)
}

/// `g ⊙ [act > 0]` in one launch.
pub(crate) fn relu_backward(g: &Tensor, act: &Tensor) -> Result<Tensor> {
    Ok(g.apply_op2_no_bwd(act, &Op2::Relu)?)
}

/// Max-pool 2×2 backward in one launch: `g: (C, H/2, W/2)`, `x: (C, H, W)`.
pub(crate) fn max_pool2_backward(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    Ok(g.apply_op2_no_bwd(x, &Op2::MaxPool2Backward)?)
}

/// Max-pool 2×2 of `x: (C, H, W)` (f32 or bf16, contiguous) in one launch:
/// the pooled `(C, H/2, W/2)` and which input each window took, `(C, H/2,
/// W/2)` u8 in 0..3 (row-major in the window, its first maximum), for
/// [`max_pool2_backward_argmax`].
pub(crate) fn max_pool2_with_argmax(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let stash = Stash::default();
    let pooled = x.apply_op1_no_bwd(&Op1::MaxPool2 { argmax: &stash })?;
    // A candle custom op returns one tensor: the kernel's second output
    // waits in `stash` until this second op hands it over.
    let argmax = x.apply_op1_no_bwd(&Op1::TakeArgmax { from: &stash })?;
    Ok((pooled, argmax))
}

/// Max-pool 2×2 backward from the forward's `argmax` (as
/// [`max_pool2_with_argmax`] gives it) in one launch: `g: (C, H/2, W/2)` to
/// `(C, H, W)`, `h` and `w` the forward input's sides.
pub(crate) fn max_pool2_backward_argmax(
    g: &Tensor,
    argmax: &Tensor,
    h: usize,
    w: usize,
) -> Result<Tensor> {
    Ok(g.apply_op2_no_bwd(argmax, &Op2::RouteByArgmax { h, w })?)
}

/// Where the max-pool forward leaves its argmax for the op that takes it.
#[derive(Default)]
pub(crate) struct Stash(Mutex<Option<(CudaStorage, Shape)>>);

pub(super) fn max_pool2_fwd(stash: &Stash, x: &CudaStorage, lx: &Layout) -> Out {
    let (out, argmax) = match x.dtype() {
        DType::F32 => launch_pool_forward::<f32>(x, lx)?,
        DType::BF16 => launch_pool_forward::<bf16>(x, lx)?,
        other => candle_core::bail!("max-pool2-forward: f32 or bf16, not {other:?}"),
    };
    let (c, h, w) = lx.shape().dims3()?;
    let shape = Shape::from_dims(&[c, h / 2, w / 2]);
    let argmax = CudaStorage::wrap_cuda_slice(argmax, x.device.clone());
    *stash.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((argmax, shape.clone()));
    Ok((out, shape))
}

pub(super) fn take_argmax(stash: &Stash) -> Out {
    stash
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| candle_core::Error::Msg("max-pool: no argmax was computed".into()))
}

pub(super) fn relu_backward_fwd(g: &CudaStorage, lg: &Layout, a: &CudaStorage, la: &Layout) -> Out {
    if lg.shape() != la.shape() {
        candle_core::bail!(
            "relu-backward: gradient {:?} for {:?}",
            lg.shape(),
            la.shape()
        );
    }
    let out = match g.dtype() {
        DType::F32 => launch_relu::<f32>(g, lg, a, la)?,
        DType::BF16 => launch_relu::<bf16>(g, lg, a, la)?,
        other => candle_core::bail!("relu-backward: f32 or bf16, not {other:?}"),
    };
    Ok((out, la.shape().clone()))
}

pub(super) fn max_pool2_backward_fwd(
    g: &CudaStorage,
    lg: &Layout,
    x: &CudaStorage,
    lx: &Layout,
) -> Out {
    let root = "max_pool2_backward";
    let chw = lx.shape().dims3()?;
    let out = match g.dtype() {
        DType::F32 => launch_pool_backward::<f32, f32>(root, (g, lg), (x, lx), chw)?,
        DType::BF16 => launch_pool_backward::<bf16, bf16>(root, (g, lg), (x, lx), chw)?,
        other => candle_core::bail!("max-pool2-backward: f32 or bf16, not {other:?}"),
    };
    // The gradient has the shape of the tensor it flows back into.
    Ok((out, lx.shape().clone()))
}

pub(super) fn route_by_argmax_fwd(
    (h, w): (usize, usize),
    g: &CudaStorage,
    lg: &Layout,
    a: &CudaStorage,
    la: &Layout,
) -> Out {
    let root = "max_pool2_backward_argmax";
    let c = lg.shape().dims3()?.0;
    if a.dtype() != DType::U8 || la.shape() != lg.shape() {
        candle_core::bail!(
            "max-pool2-backward-argmax: argmax {:?} for {:?}",
            la.shape(),
            lg.shape()
        );
    }
    let out = match g.dtype() {
        DType::F32 => launch_pool_backward::<f32, u8>(root, (g, lg), (a, la), (c, h, w))?,
        DType::BF16 => launch_pool_backward::<bf16, u8>(root, (g, lg), (a, la), (c, h, w))?,
        other => candle_core::bail!("max-pool2-backward-argmax: f32 or bf16, not {other:?}"),
    };
    Ok((out, Shape::from_dims(&[c, h, w])))
}

pub(super) fn bias_relu_fwd(
    relu: bool,
    y: &mut CudaStorage,
    ly: &Layout,
    b: &CudaStorage,
    lb: &Layout,
) -> candle_core::Result<()> {
    match y.dtype() {
        DType::F32 => launch_bias_relu::<f32>(relu, y, ly, b, lb),
        DType::BF16 => launch_bias_relu::<bf16>(relu, y, ly, b, lb),
        other => candle_core::bail!("bias-relu: f32 or bf16, not {other:?}"),
    }
}

fn launch_bias_relu<T: CudaDType + DeviceRepr>(
    relu: bool,
    y: &mut CudaStorage,
    ly: &Layout,
    b: &CudaStorage,
    lb: &Layout,
) -> candle_core::Result<()> {
    let dims = ly.shape().dims();
    let r = dims.len();
    let channels = lb.shape().elem_count();
    if r < 3 || dims[r - 3] != channels || b.dtype() != y.dtype() {
        candle_core::bail!("bias-relu: bias {:?} for {:?}", lb.shape(), ly.shape());
    }
    let (start, end) = ly
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("bias-relu: a contiguous output".into()))?;
    let (n, plane) = (end - start, dims[r - 2] * dims[r - 1]);
    let f = y
        .device
        .get_or_load_custom_func(&kernel_name(y, "bias_relu")?, MODULE, PTX)?;
    let bv = view::<T>(b, lb)?;
    let mut yv = y.as_cuda_slice_mut::<T>()?.slice_mut(start..end);
    let (n32, plane32, c32, relu32) = (n as u32, plane as u32, channels as u32, i32::from(relu));
    let mut l = f.builder();
    l.arg(&n32)
        .arg(&plane32)
        .arg(&c32)
        .arg(&relu32)
        .arg(&mut yv)
        .arg(&bv);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { l.launch(LaunchConfig::for_num_elems(n32.max(1))) }.map_err(wrap)?;
    Ok(())
}

fn launch_pool_forward<T: CudaDType + DeviceRepr>(
    x: &CudaStorage,
    lx: &Layout,
) -> candle_core::Result<(CudaStorage, CudaSlice<u8>)> {
    let (c, h, w) = lx.shape().dims3()?;
    let windows = c * (h / 2) * (w / 2);
    let f = x
        .device
        .get_or_load_custom_func(&kernel_name(x, "max_pool2_forward")?, MODULE, PTX)?;
    // SAFETY: the kernel writes every element of both.
    let out: CudaSlice<T> = unsafe { x.device.alloc::<T>(windows)? };
    let argmax: CudaSlice<u8> = unsafe { x.device.alloc::<u8>(windows)? };
    let xv = view::<T>(x, lx)?;
    let (c32, h32, w32) = (c as u32, h as u32, w as u32);
    let mut b = f.builder();
    b.arg(&c32)
        .arg(&h32)
        .arg(&w32)
        .arg(&xv)
        .arg(&out)
        .arg(&argmax);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { b.launch(LaunchConfig::for_num_elems(windows.max(1) as u32)) }.map_err(wrap)?;
    Ok((CudaStorage::wrap_cuda_slice(out, x.device.clone()), argmax))
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
    unsafe { b.launch(LaunchConfig::for_num_elems(n32.max(1))) }.map_err(wrap)?;
    Ok(CudaStorage::wrap_cuda_slice(out, g.device.clone()))
}

/// Launches a max-pool backward kernel (`root`) on `g: (C, H/2, W/2)` and
/// the forward's input or argmax `other`, into a zeroed `(C, H, W)` (an odd
/// last row or column stays 0).
fn launch_pool_backward<T: CudaDType + DeviceRepr + ValidAsZeroBits, O: CudaDType>(
    root: &str,
    (g, lg): (&CudaStorage, &Layout),
    (o, lo): (&CudaStorage, &Layout),
    (c, h, w): (usize, usize, usize),
) -> candle_core::Result<CudaStorage> {
    if lg.shape().dims() != [c, h / 2, w / 2] {
        candle_core::bail!(
            "max-pool backward: gradient {:?} for input ({c}, {h}, {w})",
            lg.shape()
        );
    }
    let f = g
        .device
        .get_or_load_custom_func(&kernel_name(g, root)?, MODULE, PTX)?;
    let out: CudaSlice<T> = g.device.alloc_zeros::<T>(c * h * w)?;
    let (gv, ov) = (view::<T>(g, lg)?, view::<O>(o, lo)?);
    let (c32, h32, w32) = (c as u32, h as u32, w as u32);
    let windows = (c * (h / 2) * (w / 2)).max(1) as u32;
    let mut b = f.builder();
    b.arg(&c32).arg(&h32).arg(&w32).arg(&gv).arg(&ov).arg(&out);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { b.launch(LaunchConfig::for_num_elems(windows)) }.map_err(wrap)?;
    Ok(CudaStorage::wrap_cuda_slice(out, g.device.clone()))
}
