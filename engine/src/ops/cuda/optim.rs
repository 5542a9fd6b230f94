//! The optimiser's kernel: L-BFGS's two-loop recursion on the dot products
//! of its curvature pairs (`optim/pairs.rs`), one launch of one thread.

use candle_core::cuda_backend::CudaStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use candle_core::{Layout, Shape, Tensor};

use super::{MODULE, Op2, Out, PTX, expect_f32, view, wrap};
use crate::error::Result;

/// The recursion's coefficients `(2m)` from `dots: (2m, 2m)` and `mg:
/// (2m)`, f32, for `count` pairs from ring slot `oldest` and the initial
/// Hessian scale `h`: what `optim::pairs::coefficients_host` computes, on
/// the device (kernels.cu, `lbfgs_coefficients_f32`, states the formulas).
pub(crate) fn lbfgs_coefficients(
    dots: &Tensor,
    mg: &Tensor,
    count: usize,
    oldest: usize,
    h: f64,
) -> Result<Tensor> {
    let op = Op2::LbfgsCoefficients { count, oldest, h };
    Ok(dots.apply_op2_no_bwd(mg, &op)?)
}

pub(super) fn coefficients_fwd(
    (count, oldest, h): (usize, usize, f64),
    dots: &CudaStorage,
    ld: &Layout,
    mg: &CudaStorage,
    lm: &Layout,
) -> Out {
    expect_f32(dots, "lbfgs-coefficients")?;
    expect_f32(mg, "lbfgs-coefficients")?;
    let two_m = lm.shape().elem_count();
    let m = two_m / 2;
    if ld.shape().dims() != [two_m, two_m] || count > m || (m > 0 && oldest >= m) {
        candle_core::bail!(
            "lbfgs-coefficients: dots {:?}, M·g {:?}, {count} pairs from slot {oldest}",
            ld.shape(),
            lm.shape()
        );
    }
    let dev = &dots.device;
    let f = dev.get_or_load_custom_func("lbfgs_coefficients_f32", MODULE, PTX)?;
    // SAFETY: the kernel writes every element of `out` and each slot of
    // `work` before it reads it.
    let out: CudaSlice<f32> = unsafe { dev.alloc::<f32>(two_m.max(1))? };
    let work: CudaSlice<f64> = unsafe { dev.alloc::<f64>(two_m.max(1))? };
    let (dv, mv) = (view::<f32>(dots, ld)?, view::<f32>(mg, lm)?);
    let (m32, count32, oldest32) = (m as u32, count as u32, oldest as u32);
    let mut b = f.builder();
    b.arg(&m32)
        .arg(&count32)
        .arg(&oldest32)
        .arg(&h)
        .arg(&dv)
        .arg(&mv)
        .arg(&out)
        .arg(&work);
    let one_thread = LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (1, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { b.launch(one_thread) }.map_err(wrap)?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, dev.clone()),
        Shape::from_dims(&[two_m]),
    ))
}
