//! The loss kernels: the content, style and temporal terms' elementwise
//! parts and total variation, each with its gradient, f32.

use candle_core::cuda_backend::CudaStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use candle_core::{DType, Layout, Shape, Tensor};

use super::{MODULE, Op1, Op2, Op3, Out, PTX, expect_f32, fits_u32, view, wrap};
use crate::error::Result;

/// Whether the loss and optimiser kernels serve these tensors: on CUDA,
/// f32, contiguous, within the kernels' 32-bit counts.
pub(crate) fn applies_f32(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| {
        t.device().is_cuda() && t.dtype() == DType::F32 && t.is_contiguous() && fits_u32(t)
    })
}

/// `d = s·a − b` of two f32 tensors of one shape in one launch: `Σ d²` as
/// a 0-dim f32 tensor (one more launch to sum) and `k·d` in `a`'s shape.
/// The content term with `s = 1`, the style term's Gram difference with
/// `s = 1/norm` (loss.rs).
pub(crate) fn difference(a: &Tensor, b: &Tensor, s: f64, k: f64) -> Result<(Tensor, Tensor)> {
    let op = Op2::Difference {
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
    let op = Op3::WeightedDifference { k: k as f32 };
    let out = a.apply_op3_no_bwd(b, c, &op)?;
    Ok((out.get(1)?.sum_all()?, out.get(0)?))
}

/// Total variation of `x: (C, H, W)` (f32, contiguous, on CUDA, H and W ≥ 2)
/// in one launch: `Σ (dx² + dy²)` as a 0-dim f32 tensor (one more launch to
/// sum) and the gradient of `weight/2 · Σ (dx² + dy²)`, as
/// `loss::total_variation`.
pub(crate) fn total_variation(x: &Tensor, weight: f64) -> Result<(Tensor, Tensor)> {
    let out = x.apply_op1_no_bwd(&Op1::TotalVariation {
        weight: weight as f32,
    })?;
    Ok((out.get(1)?.sum_all()?, out.get(0)?))
}

/// Whether [`total_variation`] serves `x`.
pub(crate) fn total_variation_applies(x: &Tensor) -> bool {
    applies_f32(&[x]) && x.rank() == 3
}

/// The `(2, ...)` output of a loss kernel over `n` elements, and its shape:
/// the gradient, then the terms the caller sums.
fn gradient_and_terms(
    like: &CudaStorage,
    dims: &[usize],
) -> candle_core::Result<(CudaSlice<f32>, Shape)> {
    let n: usize = dims.iter().product();
    // SAFETY: every loss kernel writes all 2n elements.
    let out = unsafe { like.device.alloc::<f32>(2 * n)? };
    let mut shape = vec![2];
    shape.extend_from_slice(dims);
    Ok((out, Shape::from_dims(&shape)))
}

pub(super) fn total_variation_fwd(weight: f32, x: &CudaStorage, lx: &Layout) -> Out {
    expect_f32(x, "total-variation")?;
    let (c, h, w) = lx.shape().dims3()?;
    let f = x
        .device
        .get_or_load_custom_func("total_variation_f32", MODULE, PTX)?;
    let (out, shape) = gradient_and_terms(x, lx.shape().dims())?;
    let xv = view::<f32>(x, lx)?;
    let (c32, h32, w32) = (c as u32, h as u32, w as u32);
    let mut b = f.builder();
    b.arg(&c32)
        .arg(&h32)
        .arg(&w32)
        .arg(&weight)
        .arg(&xv)
        .arg(&out);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { b.launch(LaunchConfig::for_num_elems((c * h * w).max(1) as u32)) }.map_err(wrap)?;
    Ok((CudaStorage::wrap_cuda_slice(out, x.device.clone()), shape))
}

pub(super) fn difference_fwd(
    (s, k): (f32, f32),
    a: &CudaStorage,
    la: &Layout,
    b: &CudaStorage,
    lb: &Layout,
) -> Out {
    expect_f32(a, "difference")?;
    expect_f32(b, "difference")?;
    if la.shape() != lb.shape() {
        candle_core::bail!("difference: {:?} against {:?}", la.shape(), lb.shape());
    }
    let f = a
        .device
        .get_or_load_custom_func("difference_f32", MODULE, PTX)?;
    let (out, shape) = gradient_and_terms(a, la.shape().dims())?;
    let (av, bv) = (view::<f32>(a, la)?, view::<f32>(b, lb)?);
    let n32 = la.shape().elem_count() as u32;
    let mut l = f.builder();
    l.arg(&n32).arg(&s).arg(&k).arg(&av).arg(&bv).arg(&out);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { l.launch(LaunchConfig::for_num_elems(n32.max(1))) }.map_err(wrap)?;
    Ok((CudaStorage::wrap_cuda_slice(out, a.device.clone()), shape))
}

pub(super) fn weighted_difference_fwd(
    k: f32,
    (a, la): (&CudaStorage, &Layout),
    (b, lb): (&CudaStorage, &Layout),
    (c, lc): (&CudaStorage, &Layout),
) -> Out {
    for s in [a, b, c] {
        expect_f32(s, "weighted-difference")?;
    }
    let (_, h, w) = la.shape().dims3()?;
    if la.shape() != lb.shape() || lc.shape().dims() != [1, h, w] {
        candle_core::bail!(
            "weighted-difference: {:?}, {:?} and weights {:?}",
            la.shape(),
            lb.shape(),
            lc.shape()
        );
    }
    let f = a
        .device
        .get_or_load_custom_func("weighted_difference_f32", MODULE, PTX)?;
    let (out, shape) = gradient_and_terms(a, la.shape().dims())?;
    let (av, bv, cv) = (
        view::<f32>(a, la)?,
        view::<f32>(b, lb)?,
        view::<f32>(c, lc)?,
    );
    let (n32, plane) = (la.shape().elem_count() as u32, (h * w) as u32);
    let mut l = f.builder();
    l.arg(&n32)
        .arg(&plane)
        .arg(&k)
        .arg(&av)
        .arg(&bv)
        .arg(&cv)
        .arg(&out);
    // SAFETY: argument types and counts match the kernel's signature.
    unsafe { l.launch(LaunchConfig::for_num_elems(n32.max(1))) }.map_err(wrap)?;
    Ok((CudaStorage::wrap_cuda_slice(out, a.device.clone()), shape))
}
