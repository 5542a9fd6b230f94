//! Flat-vector arithmetic for the optimisers (dot products, axpy), fast on the
//! CPU and deterministic: partial sums over fixed chunks, added in order.

use candle_core::Tensor;
use rayon::prelude::*;

use super::cpu::{Elem, by_dtype, is_cpu, tensor, with_slice};
use crate::error::Result;

const CHUNK: usize = 1 << 15;

/// `Σ aᵢ bᵢ`, accumulated in f64.
pub fn dot(a: &Tensor, b: &Tensor) -> Result<f64> {
    if !is_cpu(a) {
        return Ok((a * b)?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?);
    }
    by_dtype!(a, dot_cpu(a, b))
}

/// `Σ |aᵢ|`.
pub fn sum_abs(a: &Tensor) -> Result<f64> {
    if !is_cpu(a) {
        return Ok(a
            .abs()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?);
    }
    by_dtype!(a, sum_abs_cpu(a))
}

/// `y + alpha·x`.
pub fn axpy(alpha: f64, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    if !is_cpu(x) {
        return Ok(((x * alpha)? + y)?);
    }
    by_dtype!(x, axpy_cpu(alpha, x, y))
}

fn dot_cpu<T: Elem>(a: &Tensor, b: &Tensor) -> Result<f64> {
    with_slice::<T, _>(a, |a| {
        with_slice::<T, _>(b, |b| {
            let parts: Vec<f64> = a
                .par_chunks(CHUNK)
                .zip(b.par_chunks(CHUNK))
                .map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| (x * y).to_f64()).sum())
                .collect();
            parts.into_iter().sum()
        })
    })?
}

fn sum_abs_cpu<T: Elem>(a: &Tensor) -> Result<f64> {
    with_slice::<T, _>(a, |a| {
        let parts: Vec<f64> = a
            .par_chunks(CHUNK)
            .map(|a| a.iter().map(|&x| x.to_f64().abs()).sum())
            .collect();
        parts.into_iter().sum()
    })
}

fn axpy_cpu<T: Elem>(alpha: f64, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let al = T::from_f64(alpha);
    let out = with_slice::<T, _>(x, |x| {
        with_slice::<T, _>(y, |y| {
            let mut out = y.to_vec();
            out.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK))
                .for_each(|(o, x)| o.iter_mut().zip(x).for_each(|(o, &x)| *o += al * x));
            out
        })
    })??;
    tensor(out, x.dims())
}
