//! The optimiser's kernel: L-BFGS's two-loop recursion on the dot products
//! of its curvature pairs (`optim/pairs.rs`), one launch of one thread.

use candle_core::cuda_backend::CudaStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use super::{MODULE, PTX, expect_f32, unsupported, view, wrap};
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
    Ok(dots.apply_op2_no_bwd(mg, &Coefficients { count, oldest, h })?)
}

struct Coefficients {
    count: usize,
    oldest: usize,
    h: f64,
}

impl CustomOp2 for Coefficients {
    fn name(&self) -> &'static str {
        "lbfgs-coefficients"
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
        dots: &CudaStorage,
        ld: &Layout,
        mg: &CudaStorage,
        lm: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        expect_f32(dots, self.name())?;
        expect_f32(mg, self.name())?;
        let two_m = lm.shape().elem_count();
        let m = two_m / 2;
        if ld.shape().dims() != [two_m, two_m] || self.count > m || (m > 0 && self.oldest >= m) {
            candle_core::bail!(
                "{}: dots {:?}, M·g {:?}, {} pairs from slot {}",
                self.name(),
                ld.shape(),
                lm.shape(),
                self.count,
                self.oldest
            );
        }
        let dev = &dots.device;
        let f = dev.get_or_load_custom_func("lbfgs_coefficients_f32", MODULE, PTX)?;
        // SAFETY: the kernel writes every element of `out` and each slot of
        // `work` before it reads it.
        let out: CudaSlice<f32> = unsafe { dev.alloc::<f32>(two_m.max(1))? };
        let work: CudaSlice<f64> = unsafe { dev.alloc::<f64>(two_m.max(1))? };
        let (dv, mv) = (view::<f32>(dots, ld)?, view::<f32>(mg, lm)?);
        let (m32, count32, oldest32) = (m as u32, self.count as u32, self.oldest as u32);
        let mut b = f.builder();
        b.arg(&m32)
            .arg(&count32)
            .arg(&oldest32)
            .arg(&self.h)
            .arg(&dv)
            .arg(&mv)
            .arg(&out)
            .arg(&work);
        let one = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (1, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and counts match the kernel's signature.
        unsafe { b.launch(one) }.map_err(wrap)?;
        Ok((
            CudaStorage::wrap_cuda_slice(out, dev.clone()),
            Shape::from_dims(&[two_m]),
        ))
    }
}
