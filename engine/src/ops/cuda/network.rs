//! The network kernels: the ReLU mask and max-pool 2×2 forward (with its
//! argmax) and backward, f32 or bf16.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use candle_core::cuda_backend::{CudaDType, CudaStorage};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use half::bf16;

use super::{MODULE, PTX, kernel_name, unsupported, view, wrap};
use crate::error::Result;

/// `g ⊙ [act > 0]` in one launch.
pub(crate) fn relu_backward(g: &Tensor, act: &Tensor) -> Result<Tensor> {
    Ok(g.apply_op2_no_bwd(act, &Backward::Relu)?)
}

/// Max-pool 2×2 backward in one launch: `g: (C, H/2, W/2)`, `x: (C, H, W)`.
pub(crate) fn max_pool2_backward(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    Ok(g.apply_op2_no_bwd(x, &Backward::MaxPool2)?)
}

/// Max-pool 2×2 of `x: (C, H, W)` (f32 or bf16, contiguous) in one launch:
/// the pooled `(C, H/2, W/2)` and which input each window took, `(C, H/2,
/// W/2)` u8 in 0..3 (row-major in the window, its first maximum), for
/// [`max_pool2_backward_argmax`].
pub(crate) fn max_pool2_with_argmax(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let op = MaxPool2Forward::default();
    let pooled = x.apply_op1_no_bwd(&op)?;
    // A candle custom op returns one tensor: the kernel's second output
    // waits in `op` until this second op hands it over.
    let argmax = x.apply_op1_no_bwd(&TakeArgmax(&op))?;
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
    Ok(g.apply_op2_no_bwd(argmax, &RouteByArgmax { h, w })?)
}

/// Fails unless the gradient `g` is `(C, H/2, W/2)` for a pooling input `(C, H, W)`.
fn pool_dims(lg: &Layout, c: usize, h: usize, w: usize) -> candle_core::Result<()> {
    if lg.shape().dims() != [c, h / 2, w / 2] {
        candle_core::bail!(
            "max-pool backward: gradient {:?} for input ({c}, {h}, {w})",
            lg.shape()
        );
    }
    Ok(())
}

/// Max-pool forward; the argmax it also writes waits in `argmax` for
/// [`TakeArgmax`].
#[derive(Default)]
struct MaxPool2Forward {
    argmax: Mutex<Option<(CudaStorage, Shape)>>,
}

impl CustomOp1 for MaxPool2Forward {
    fn name(&self) -> &'static str {
        "max-pool2-forward"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(unsupported(self.name()))
    }

    fn cuda_fwd(&self, x: &CudaStorage, lx: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        let out = match x.dtype() {
            DType::F32 => launch_pool_forward::<f32>(x, lx)?,
            DType::BF16 => launch_pool_forward::<bf16>(x, lx)?,
            other => candle_core::bail!("{}: f32 or bf16, not {other:?}", self.name()),
        };
        let (c, h, w) = lx.shape().dims3()?;
        let shape = Shape::from_dims(&[c, h / 2, w / 2]);
        let argmax = CudaStorage::wrap_cuda_slice(out.1, x.device.clone());
        *self.argmax.lock().unwrap_or_else(|e| e.into_inner()) = Some((argmax, shape.clone()));
        Ok((out.0, shape))
    }
}

/// Hands over the argmax a [`MaxPool2Forward`] left behind.
struct TakeArgmax<'a>(&'a MaxPool2Forward);

impl CustomOp1 for TakeArgmax<'_> {
    fn name(&self) -> &'static str {
        "max-pool2-argmax"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(unsupported(self.name()))
    }

    fn cuda_fwd(&self, _: &CudaStorage, _: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        self.0
            .argmax
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| candle_core::Error::Msg("max-pool: no argmax was computed".into()))
    }
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

/// Launches a max-pool backward kernel (`root`) on `g` and the forward's
/// input or argmax `other`, into a zeroed `(C, H, W)`.
fn launch_pool_backward<T: CudaDType + DeviceRepr + ValidAsZeroBits, O: CudaDType>(
    root: &str,
    (g, lg): (&CudaStorage, &Layout),
    (o, lo): (&CudaStorage, &Layout),
    (c, h, w): (usize, usize, usize),
) -> candle_core::Result<CudaStorage> {
    pool_dims(lg, c, h, w)?;
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
        let root = "max_pool2_backward";
        let out = match (self, g.dtype()) {
            (Backward::Relu, DType::F32) => launch_relu::<f32>(g, lg, o, lo)?,
            (Backward::Relu, DType::BF16) => launch_relu::<bf16>(g, lg, o, lo)?,
            (Backward::MaxPool2, dt) => {
                let chw = lo.shape().dims3()?;
                match dt {
                    DType::F32 => launch_pool_backward::<f32, f32>(root, (g, lg), (o, lo), chw)?,
                    DType::BF16 => launch_pool_backward::<bf16, bf16>(root, (g, lg), (o, lo), chw)?,
                    other => candle_core::bail!("{}: f32 or bf16, not {other:?}", self.name()),
                }
            }
            (_, other) => candle_core::bail!("{}: f32 or bf16, not {other:?}", self.name()),
        };
        // The gradient has the shape of the tensor it flows back into.
        Ok((out, lo.shape().clone()))
    }
}

/// Max-pool backward on `(g, argmax)` into the forward input's `(C, h, w)`.
struct RouteByArgmax {
    h: usize,
    w: usize,
}

impl CustomOp2 for RouteByArgmax {
    fn name(&self) -> &'static str {
        "max-pool2-backward-argmax"
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
        a: &CudaStorage,
        la: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let root = "max_pool2_backward_argmax";
        let c = lg.shape().dims3()?.0;
        let chw = (c, self.h, self.w);
        if a.dtype() != DType::U8 || la.shape() != lg.shape() {
            candle_core::bail!(
                "{}: argmax {:?} for {:?}",
                self.name(),
                la.shape(),
                lg.shape()
            );
        }
        let out = match g.dtype() {
            DType::F32 => launch_pool_backward::<f32, u8>(root, (g, lg), (a, la), chw)?,
            DType::BF16 => launch_pool_backward::<bf16, u8>(root, (g, lg), (a, la), chw)?,
            other => candle_core::bail!("{}: f32 or bf16, not {other:?}", self.name()),
        };
        Ok((out, Shape::from_dims(&[c, self.h, self.w])))
    }
}
