//! Flat-vector arithmetic for the optimisers (dot products, axpy), fast on the
//! CPU and deterministic: partial sums over fixed chunks, added in order.

use candle_core::Tensor;
use rayon::prelude::*;

use super::cpu::{Elem, by_dtype, is_cpu, tensor, with_slice};
use crate::error::Result;

const CHUNK: usize = 1 << 15;

/// `Σ aᵢ bᵢ`, accumulated in f64 (on a GPU in the tensors' dtype, then f64).
pub fn dot(a: &Tensor, b: &Tensor) -> Result<f64> {
    dot_sum(a, b)?.value()
}

/// [`dot`], left on the device on a GPU (see [`Sum`]).
pub fn dot_sum(a: &Tensor, b: &Tensor) -> Result<Sum> {
    if !is_cpu(a) {
        return Ok(Sum::Device(
            (a * b)?.sum_all()?.to_dtype(candle_core::DType::F64)?,
        ));
    }
    Ok(Sum::Host(by_dtype!(a, dot_cpu(a, b))?))
}

/// A sum that may still be on the device. The CPU's sums are read at once;
/// a GPU's stay a 0-dim f64 tensor, queued behind the kernels that make it,
/// until [`read_sums`] reads many of them in one transfer: an iteration's
/// losses need no host round trip of their own.
#[derive(Clone, Debug)]
pub enum Sum {
    Host(f64),
    Device(Tensor),
}

impl Default for Sum {
    fn default() -> Self {
        Sum::zero()
    }
}

impl Sum {
    pub fn zero() -> Sum {
        Sum::Host(0.0)
    }

    /// `k · self`.
    pub fn scale(self, k: f64) -> Result<Sum> {
        Ok(match self {
            Sum::Host(v) => Sum::Host(v * k),
            Sum::Device(t) => Sum::Device((t * k)?),
        })
    }

    /// `self + other`, on the device if either is.
    pub fn plus(self, other: Sum) -> Result<Sum> {
        Ok(match (self, other) {
            (Sum::Host(a), Sum::Host(b)) => Sum::Host(a + b),
            (Sum::Device(a), Sum::Device(b)) => Sum::Device((a + b)?),
            (Sum::Host(a), Sum::Device(t)) | (Sum::Device(t), Sum::Host(a)) => {
                Sum::Device((t + a)?)
            }
        })
    }

    /// `self += other`.
    pub fn accumulate(&mut self, other: Sum) -> Result<()> {
        *self = std::mem::take(self).plus(other)?;
        Ok(())
    }

    /// The value, waiting for the device if need be.
    pub fn value(&self) -> Result<f64> {
        Ok(read_sums(&[self])?[0])
    }
}

/// The values of `sums`, those on a device read in one transfer (all of
/// them on one device).
pub fn read_sums(sums: &[&Sum]) -> Result<Vec<f64>> {
    let mut on_device = Vec::new();
    for s in sums {
        if let Sum::Device(t) = s {
            on_device.push(t.reshape(1)?);
        }
    }
    let mut read = match on_device.len() {
        0 => Vec::new(),
        _ => Tensor::cat(&on_device, 0)?.to_vec1::<f64>()?,
    }
    .into_iter();
    Ok(sums
        .iter()
        .map(|s| match s {
            Sum::Host(v) => *v,
            Sum::Device(_) => read.next().unwrap_or(f64::NAN),
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn sums_on_the_device_are_read_in_order_with_the_hosts() {
        // CPU tensors stand in for a GPU's: the same code path.
        let on_device = |v: f64| Sum::Device(Tensor::new(v, &Device::Cpu).unwrap());
        let a = on_device(2.0).scale(3.0).unwrap();
        let mut b = Sum::Host(1.5);
        b.accumulate(on_device(0.25)).unwrap();
        let c = Sum::Host(-4.0).plus(Sum::Host(1.0)).unwrap();
        assert!(
            matches!(b, Sum::Device(_)),
            "host + device stays on the device"
        );
        assert_eq!(read_sums(&[&a, &c, &b]).unwrap(), [6.0, -3.0, 1.75]);
        assert_eq!(c.value().unwrap(), -3.0);
    }
}
