//! The optimisers' kernels: L-BFGS's two-loop recursion on the dot
//! products of its curvature pairs (`optim/pairs.rs`), one launch of one
//! thread; a whole Adam step in one launch.

use candle_core::cuda_backend::CudaStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use candle_core::{Layout, Shape, Tensor};

use super::{MODULE, Op2, Op3, Out, PTX, expect_f32, view, wrap};
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

/// An Adam step's constants (optim/adam.rs): β₁, β₂, `lr / (1 − β₁ᵗ)`,
/// `√(1 − β₂ᵗ)` and ε.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamStep {
    pub(crate) b1: f32,
    pub(crate) b2: f32,
    pub(crate) step: f32,
    pub(crate) sqrt_bc2: f32,
    pub(crate) eps: f32,
}

/// One Adam step in one launch: `x` and `g` f32 of one shape, `moments:
/// (2, ...)` the first moment, then the second. Returns `(3, ...)`: the next
/// `x`, then the new moments.
pub(crate) fn adam_step(x: &Tensor, g: &Tensor, moments: &Tensor, c: AdamStep) -> Result<Tensor> {
    Ok(x.apply_op3_no_bwd(g, moments, &Op3::Adam(c))?)
}

pub(super) fn adam_fwd(
    c: &AdamStep,
    (x, lx): (&CudaStorage, &Layout),
    (g, lg): (&CudaStorage, &Layout),
    (mv, lmv): (&CudaStorage, &Layout),
) -> Out {
    for s in [x, g, mv] {
        expect_f32(s, "adam")?;
    }
    let n = lx.shape().elem_count();
    if lg.shape() != lx.shape() || lmv.shape().elem_count() != 2 * n {
        candle_core::bail!(
            "adam: x {:?}, g {:?}, moments {:?}",
            lx.shape(),
            lg.shape(),
            lmv.shape()
        );
    }
    let dev = &x.device;
    let f = dev.get_or_load_custom_func("adam_f32", MODULE, PTX)?;
    // SAFETY: the kernel writes all 3n elements.
    let out: CudaSlice<f32> = unsafe { dev.alloc::<f32>(3 * n)? };
    let (xv, gv, mvv) = (
        view::<f32>(x, lx)?,
        view::<f32>(g, lg)?,
        view::<f32>(mv, lmv)?,
    );
    let n32 = n as u32;
    let mut b = f.builder();
    b.arg(&n32)
        .arg(&c.b1)
        .arg(&c.b2)
        .arg(&c.step)
        .arg(&c.sqrt_bc2)
        .arg(&c.eps)
        .arg(&xv)
        .arg(&gv)
        .arg(&mvv)
        .arg(&out);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { b.launch(LaunchConfig::for_num_elems(n32.max(1))) }.map_err(wrap)?;
    let mut dims = vec![3];
    dims.extend_from_slice(lx.shape().dims());
    Ok((
        CudaStorage::wrap_cuda_slice(out, dev.clone()),
        Shape::from_dims(&dims),
    ))
}
