//! The loss kernels: the content, style and temporal terms' elementwise
//! parts and total variation, each with its gradient, f32.

use candle_core::cuda_backend::CudaStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};

use super::{MODULE, PTX, expect_f32, unsupported, view, wrap};
use crate::error::Result;

/// Whether the loss kernels serve these tensors: on CUDA, f32, contiguous.
pub(crate) fn applies_f32(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.device().is_cuda() && t.dtype() == DType::F32 && t.is_contiguous())
}

/// `d = s·a − b` of two f32 tensors of one shape in one launch: `Σ d²` as
/// a 0-dim f32 tensor (one more launch to sum) and `k·d` in `a`'s shape.
/// The content term with `s = 1`, the style term's Gram difference with
/// `s = 1/norm` (loss.rs).
pub(crate) fn difference(a: &Tensor, b: &Tensor, s: f64, k: f64) -> Result<(Tensor, Tensor)> {
    let op = Difference {
        s: s as f32,
        k: k as f32,
    };
    let out = a.apply_op2_no_bwd(b, &op)?;
    Ok((out.get(1)?.sum_all()?, out.get(0)?))
}

/// The temporal term's elementwise part in one launch: `a, b: (C, H, W)`,
/// `c: (1, H, W)` for every channel; `d = a − b`: `Σ c·d²` as a 0-dim f32
/// tensor and `k·c⊙d` in `a`'s shape.
pub(crate) fn weighted_difference(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    k: f64,
) -> Result<(Tensor, Tensor)> {
    let op = WeightedDifference { k: k as f32 };
    let out = a.apply_op3_no_bwd(b, c, &op)?;
    Ok((out.get(1)?.sum_all()?, out.get(0)?))
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
    applies_f32(&[x]) && x.rank() == 3
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
        expect_f32(x, self.name())?;
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
        unsafe { b.launch(LaunchConfig::for_num_elems(n.max(1) as u32)) }.map_err(wrap)?;
        let shape = Shape::from_dims(&[2, c, h, w]);
        Ok((CudaStorage::wrap_cuda_slice(out, x.device.clone()), shape))
    }
}

struct Difference {
    s: f32,
    k: f32,
}

impl CustomOp2 for Difference {
    fn name(&self) -> &'static str {
        "difference"
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
        a: &CudaStorage,
        la: &Layout,
        b: &CudaStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        expect_f32(a, self.name())?;
        expect_f32(b, self.name())?;
        if la.shape() != lb.shape() {
            candle_core::bail!("{}: {:?} against {:?}", self.name(), la.shape(), lb.shape());
        }
        let n = la.shape().elem_count();
        let f = a
            .device
            .get_or_load_custom_func("difference_f32", MODULE, PTX)?;
        // SAFETY: every element of `out` is written by the kernel below.
        let out: CudaSlice<f32> = unsafe { a.device.alloc::<f32>(2 * n)? };
        let (av, bv) = (view::<f32>(a, la)?, view::<f32>(b, lb)?);
        let n32 = n as u32;
        let mut l = f.builder();
        l.arg(&n32)
            .arg(&self.s)
            .arg(&self.k)
            .arg(&av)
            .arg(&bv)
            .arg(&out);
        // SAFETY: argument types and counts match the kernel's signature.
        unsafe { l.launch(LaunchConfig::for_num_elems(n32.max(1))) }.map_err(wrap)?;
        let mut dims = vec![2];
        dims.extend_from_slice(la.shape().dims());
        Ok((
            CudaStorage::wrap_cuda_slice(out, a.device.clone()),
            Shape::from_dims(&dims),
        ))
    }
}

struct WeightedDifference {
    k: f32,
}

impl CustomOp3 for WeightedDifference {
    fn name(&self) -> &'static str {
        "weighted-difference"
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
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        for s in [a, b, c] {
            expect_f32(s, self.name())?;
        }
        let (ch, h, w) = la.shape().dims3()?;
        if la.shape() != lb.shape() || lc.shape().dims() != [1, h, w] {
            candle_core::bail!(
                "{}: {:?}, {:?} and weights {:?}",
                self.name(),
                la.shape(),
                lb.shape(),
                lc.shape()
            );
        }
        let n = ch * h * w;
        let f = a
            .device
            .get_or_load_custom_func("weighted_difference_f32", MODULE, PTX)?;
        // SAFETY: every element of `out` is written by the kernel below.
        let out: CudaSlice<f32> = unsafe { a.device.alloc::<f32>(2 * n)? };
        let (av, bv, cv) = (
            view::<f32>(a, la)?,
            view::<f32>(b, lb)?,
            view::<f32>(c, lc)?,
        );
        let (n32, plane) = (n as u32, (h * w) as u32);
        let mut l = f.builder();
        l.arg(&n32)
            .arg(&plane)
            .arg(&self.k)
            .arg(&av)
            .arg(&bv)
            .arg(&cv)
            .arg(&out);
        // SAFETY: argument types and counts match the kernel's signature.
        unsafe { l.launch(LaunchConfig::for_num_elems(n32.max(1))) }.map_err(wrap)?;
        Ok((
            CudaStorage::wrap_cuda_slice(out, a.device.clone()),
            Shape::from_dims(&[2, ch, h, w]),
        ))
    }
}
