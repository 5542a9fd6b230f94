//! L-BFGS's curvature pairs kept on a GPU, and the two-loop recursion run
//! on their dot products instead of the vectors.
//!
//! torch's `optim.lbfgs` (and this engine on the CPU) walks the pairs twice
//! per iteration, a dot product and an axpy per pair: with neural-style's
//! history of 100 that is a thousand vector-sized launches: on a GPU, by
//! estimate (a few µs of host time each), as long as the network's pass at
//! 512 px. Every quantity the recursion needs is
//! a dot product of the pairs with each other or with the gradient: here
//! they are one matrix-vector product per new vector, the recursion runs on
//! those `2m` numbers (one kernel of one thread, or the host for CPU
//! tensors), and the direction is one more product. The numbers are the
//! two-loop recursion's, in another summation order.

use candle_core::{DType, Tensor};

use crate::error::Result;

/// Up to `m` pairs `(s, y)` of image-sized vectors in a ring.
pub(crate) struct DevicePairs {
    m: usize,
    count: usize,
    /// The slot the next pair goes to.
    next: usize,
    /// `(2m, n)`: row `k` is slot `k`'s `s`, row `m + k` its `y`.
    store: Tensor,
    /// `(2m, 2m)`: row `k` is `s_k · store`, row `m + k` is `y_k · store`,
    /// each as of slot `k`'s insertion (of two rows, the newer pair's is
    /// current).
    dots: Tensor,
}

impl DevicePairs {
    /// Room for `m` pairs of vectors shaped and placed as `like`.
    pub(crate) fn new(m: usize, like: &Tensor) -> Result<DevicePairs> {
        let (n, dtype, device) = (like.elem_count(), like.dtype(), like.device());
        Ok(DevicePairs {
            m,
            count: 0,
            next: 0,
            store: Tensor::zeros((2 * m, n), dtype, device)?,
            dots: Tensor::zeros((2 * m, 2 * m), dtype, device)?,
        })
    }

    /// How many pairs are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Adds the pair `(s, y)` (step and gradient change), over the oldest
    /// when `m` are held.
    pub(crate) fn push(&mut self, s: &Tensor, y: &Tensor) -> Result<()> {
        let (m, k, n) = (self.m, self.next, s.elem_count());
        self.store.slice_set(&s.reshape((1, n))?, 0, k)?;
        self.store.slice_set(&y.reshape((1, n))?, 0, m + k)?;
        for (row, v) in [(k, s), (m + k, y)] {
            let d = self.store.matmul(&v.reshape((n, 1))?)?;
            self.dots.slice_set(&d.reshape((1, 2 * m))?, 0, row)?;
        }
        self.next = (k + 1) % m;
        self.count = (self.count + 1).min(m);
        Ok(())
    }

    /// `H g`: the inverse Hessian approximation with initial scale `h`
    /// (torch's `H_diag`) times `g`, shaped as `g`.
    pub(crate) fn times(&self, g: &Tensor, h: f64) -> Result<Tensor> {
        let (m, n) = (self.m, g.elem_count());
        let mg = self.store.matmul(&g.reshape((n, 1))?)?.reshape(2 * m)?;
        let oldest = (self.next + m - self.count) % m;
        let coef = coefficients(&self.dots, &mg, self.count, oldest, h)?;
        let r = coef.reshape((1, 2 * m))?.matmul(&self.store)?;
        Ok(((g * h)? + r.reshape(g.dims())?)?)
    }
}

/// The recursion's coefficients: on CUDA the engine's kernel, elsewhere
/// [`coefficients_host`] (which reads the numbers from the device).
fn coefficients(dots: &Tensor, mg: &Tensor, count: usize, oldest: usize, h: f64) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if crate::ops::cuda::applies_f32(&[dots, mg]) {
        return crate::ops::cuda::lbfgs_coefficients(dots, mg, count, oldest, h);
    }
    let d = dots.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let g = mg.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let out = coefficients_host(&d, &g, count, oldest, h);
    Ok(Tensor::from_vec(out, g.len(), mg.device())?.to_dtype(mg.dtype())?)
}

/// L-BFGS's two-loop recursion on dot products (as kernels.cu's
/// `lbfgs_coefficients_f32`, which states the formulas): `dots` and `mg` as
/// [`DevicePairs`] holds and computes them, `count` pairs from ring slot
/// `oldest`, initial scale `h`. Returns `c: (2m)` with
/// `H g = h g + storeᵀ c`.
pub(crate) fn coefficients_host(
    dots: &[Vec<f64>],
    mg: &[f64],
    count: usize,
    oldest: usize,
    h: f64,
) -> Vec<f64> {
    let m = mg.len() / 2;
    let slot = |t: usize| (oldest + t) % m;
    // s_t·y_u and y_t·y_u from the row of the newer pair (t's own for t = u).
    let sy = |t: usize, u: usize| match t >= u {
        true => dots[slot(t)][m + slot(u)],
        false => dots[m + slot(u)][slot(t)],
    };
    let yy = |t: usize, u: usize| dots[m + slot(t.max(u))][m + slot(t.min(u))];
    let mut alpha = vec![0.0; m];
    for t in (0..count).rev() {
        let mut acc = mg[slot(t)];
        for u in t + 1..count {
            acc -= alpha[slot(u)] * sy(t, u);
        }
        alpha[slot(t)] = acc / sy(t, t);
    }
    let mut out = vec![0.0; 2 * m];
    for t in 0..count {
        let mut yr = mg[m + slot(t)];
        for u in 0..count {
            yr -= alpha[slot(u)] * yy(t, u);
        }
        yr *= h;
        for u in 0..t {
            yr += out[slot(u)] * sy(u, t);
        }
        let beta = yr / sy(t, t);
        out[slot(t)] = alpha[slot(t)] - beta;
        out[m + slot(t)] = -h * alpha[slot(t)];
    }
    out
}
