//! L-BFGS without line search, step for step as torch's `optim.lbfgs` that
//! neural-style drives: first step `min(1, 1/|g|₁)·lr`, then `lr`.

use std::collections::VecDeque;

use candle_core::Tensor;

use crate::error::Result;
use crate::ops::vector::{axpy, dot, dot_sum, read_sums, sum_abs};

pub struct Lbfgs {
    history: usize,
    lr: f64,
    /// (s, y, 1/yᵀs), oldest first.
    pairs: VecDeque<(Tensor, Tensor, f64)>,
    h_diag: f64,
    prev: Option<(Tensor, Tensor)>, // (g, step taken = t·d)
}

impl Lbfgs {
    pub fn new(history: usize, lr: f64) -> Lbfgs {
        Lbfgs {
            history: history.max(1),
            lr,
            pairs: VecDeque::new(),
            h_diag: 1.0,
            prev: None,
        }
    }

    pub fn step(&mut self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        let (d, t) = match self.prev.take() {
            None => {
                let t = (1.0f64).min(1.0 / sum_abs(g)?.max(1e-300)) * self.lr;
                (g.neg()?, t)
            }
            Some((g_prev, s)) => {
                let y = (g - &g_prev)?;
                let (ys, yy) = curvature(&y, &s)?;
                if ys > 1e-10 {
                    if self.pairs.len() == self.history {
                        self.pairs.pop_front();
                    }
                    self.h_diag = ys / yy;
                    self.pairs.push_back((s, y, 1.0 / ys));
                }
                let d = if g.device().is_cpu() {
                    self.direction(g)?
                } else {
                    self.direction_on_device(g)?
                };
                (d, self.lr)
            }
        };
        let step = (d * t)?;
        let next = (x + &step)?;
        self.prev = Some((g.clone(), step));
        Ok(next)
    }

    /// [`Lbfgs::direction`] with every dot product left on the device as a
    /// 0-dim tensor: no host round trip per curvature pair (200 of them with
    /// neural-style's history of 100), only kernel launches queued behind
    /// each other. Sums in the tensors' dtype rather than f64.
    fn direction_on_device(&self, g: &Tensor) -> Result<Tensor> {
        let mut q = g.neg()?;
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let a = ((s * &q)?.sum_all()? * *rho)?;
            q = (q - y.broadcast_mul(&a)?)?;
            alphas.push(a);
        }
        let mut r = (q * self.h_diag)?;
        for ((s, y, rho), a) in self.pairs.iter().zip(alphas.iter().rev()) {
            let b = ((y * &r)?.sum_all()? * *rho)?;
            r = (r + s.broadcast_mul(&(a - b)?)?)?;
        }
        Ok(r)
    }

    /// Two-loop recursion: `-H g` with the stored curvature pairs.
    fn direction(&self, g: &Tensor) -> Result<Tensor> {
        let mut q = g.neg()?;
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let a = rho * dot(s, &q)?;
            q = axpy(-a, y, &q)?;
            alphas.push(a);
        }
        let mut r = (q * self.h_diag)?;
        for ((s, y, rho), a) in self.pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &r)?;
            r = axpy(a - b, s, &r)?;
        }
        Ok(r)
    }
}

/// `(yᵀs, yᵀy)`: on a GPU both in one transfer, the iteration's only wait
/// for the device (its losses are read every few iterations; see
/// `Settings::read_losses_every`); on the CPU `yᵀy` only where it is used.
fn curvature(y: &Tensor, s: &Tensor) -> Result<(f64, f64)> {
    if y.device().is_cpu() {
        let ys = dot(y, s)?;
        return Ok((ys, if ys > 1e-10 { dot(y, y)? } else { 0.0 }));
    }
    let v = read_sums(&[&dot_sum(y, s)?, &dot_sum(y, y)?])?;
    Ok((v[0], v[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn vector(seed: u64) -> Tensor {
        let mut s = seed;
        let v: Vec<f32> = (0..3 * 17 * 13)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        Tensor::from_vec(v, (3, 17, 13), &Device::Cpu).unwrap()
    }

    /// The device form of the two-loop recursion is the host form, on the
    /// same curvature pairs (run here on CPU tensors).
    #[test]
    fn the_device_two_loop_recursion_is_the_hosts() {
        let mut opt = Lbfgs::new(5, 1.0);
        // A convex quadratic's gradient, g = A x with A diagonal and positive.
        let a = (vector(99).abs().unwrap() + 0.5).unwrap();
        let mut x = vector(1);
        for _ in 0..8 {
            let g = (&a * &x).unwrap();
            x = opt.step(&x, &g).unwrap();
        }
        assert_eq!(opt.pairs.len(), 5, "the history filled");
        let g = (&a * &x).unwrap();
        let host = opt.direction(&g).unwrap();
        let device = opt.direction_on_device(&g).unwrap();
        let diff = (&host - &device).unwrap().abs().unwrap().max_all().unwrap();
        let scale = host.abs().unwrap().max_all().unwrap();
        let (diff, scale) = (
            diff.to_scalar::<f32>().unwrap(),
            scale.to_scalar::<f32>().unwrap(),
        );
        assert!(diff <= 1e-5 * scale, "{diff} against {scale}");
    }
}
