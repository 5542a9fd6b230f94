//! L-BFGS without line search, step for step as torch's `optim.lbfgs` that
//! neural-style drives: first step `min(1, 1/|g|₁)·lr`, then `lr`.

use std::collections::VecDeque;

use candle_core::Tensor;

use super::pairs::DevicePairs;
use crate::error::Result;
use crate::ops::vector::{axpy, dot, dot_sum, read_sums, sum_abs};

pub struct Lbfgs {
    history: usize,
    lr: f64,
    pairs: Pairs,
    h_diag: f64,
    prev: Option<(Tensor, Tensor)>, // (g, step taken = t·d)
}

/// The curvature pairs: on the CPU `(s, y, 1/yᵀs)`, oldest first, walked
/// by the two-loop recursion as torch does; on a GPU in device memory, the
/// recursion run on their dot products (optim/pairs.rs). Which one is
/// chosen at the first pair, by the gradient's device.
enum Pairs {
    Host(VecDeque<(Tensor, Tensor, f64)>),
    Device(DevicePairs),
}

impl Lbfgs {
    pub fn new(history: usize, lr: f64) -> Lbfgs {
        Lbfgs {
            history: history.max(1),
            lr,
            pairs: Pairs::Host(VecDeque::new()),
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
                    self.h_diag = ys / yy;
                    self.push(s, y, ys)?;
                }
                let d = match &self.pairs {
                    Pairs::Host(pairs) => two_loop(pairs, g, self.h_diag)?,
                    Pairs::Device(p) => p.times(g, self.h_diag)?.neg()?,
                };
                (d, self.lr)
            }
        };
        let step = (d * t)?;
        let next = (x + &step)?;
        self.prev = Some((g.clone(), step));
        Ok(next)
    }

    /// Keeps the pair `(s, y)`, over the oldest when the history is full.
    fn push(&mut self, s: Tensor, y: Tensor, ys: f64) -> Result<()> {
        if let Pairs::Host(pairs) = &self.pairs
            && pairs.is_empty()
            && !s.device().is_cpu()
        {
            self.pairs = Pairs::Device(DevicePairs::new(self.history, &s)?);
        }
        match &mut self.pairs {
            Pairs::Host(pairs) => {
                if pairs.len() == self.history {
                    pairs.pop_front();
                }
                pairs.push_back((s, y, 1.0 / ys));
            }
            Pairs::Device(pairs) => pairs.push(&s, &y)?,
        }
        Ok(())
    }
}

/// Two-loop recursion: `-H g` with the curvature pairs `(s, y, 1/yᵀs)`,
/// oldest first, and the initial scale `h_diag`.
fn two_loop(pairs: &VecDeque<(Tensor, Tensor, f64)>, g: &Tensor, h_diag: f64) -> Result<Tensor> {
    let mut q = g.neg()?;
    let mut alphas = Vec::with_capacity(pairs.len());
    for (s, y, rho) in pairs.iter().rev() {
        let a = rho * dot(s, &q)?;
        q = axpy(-a, y, &q)?;
        alphas.push(a);
    }
    let mut r = (q * h_diag)?;
    for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
        let b = rho * dot(y, &r)?;
        r = axpy(a - b, s, &r)?;
    }
    Ok(r)
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
        let v: Vec<f64> = (0..3 * 17 * 13)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f64 / (1u64 << 24) as f64) - 0.5
            })
            .collect();
        Tensor::from_vec(v, (3, 17, 13), &Device::Cpu).unwrap()
    }

    /// `max |want − got| / max |want|`, in f64.
    fn relative_gap(want: &Tensor, got: &Tensor) -> f64 {
        let max_abs = |t: &Tensor| {
            let m = t.abs().unwrap().max_all().unwrap();
            m.to_dtype(candle_core::DType::F64)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        max_abs(&(want - got).unwrap()) / max_abs(want)
    }

    /// The pairs in device memory, with the recursion on their dot
    /// products, step as the host's two-loop recursion does (here both on
    /// CPU tensors in f64, the device form's store started by hand): the
    /// same points through eight iterations after the ring of five wrapped.
    #[test]
    fn the_recursion_on_dot_products_steps_as_the_two_loop_recursion() {
        let a = (vector(99).abs().unwrap() + 0.5).unwrap();
        let mut host = Lbfgs::new(5, 1.0);
        let mut device = Lbfgs::new(5, 1.0);
        device.pairs = Pairs::Device(DevicePairs::new(5, &vector(1)).unwrap());
        let (mut xh, mut xd) = (vector(1), vector(1));
        for i in 0..13 {
            xh = host.step(&xh, &(&a * &xh).unwrap()).unwrap();
            xd = device.step(&xd, &(&a * &xd).unwrap()).unwrap();
            let gap = relative_gap(&xh, &xd);
            assert!(gap <= 1e-9, "iteration {i}: {gap}");
        }
        let Pairs::Device(pairs) = &device.pairs else {
            panic!("the device store stays")
        };
        assert_eq!(pairs.len(), 5, "the history filled");
    }

    /// On `STYLEFARM_TEST_DEVICE` (on CUDA: the pairs in device memory and
    /// the engine's kernel) the steps of the CPU's two-loop recursion, in
    /// f32, through the ring's wrap; on the CPU the CPU against itself.
    #[test]
    fn lbfgs_on_the_test_device_steps_as_on_the_cpu() {
        let device = match std::env::var("STYLEFARM_TEST_DEVICE") {
            Ok(d) => crate::parse_device(&d).unwrap(),
            Err(_) => Device::Cpu,
        };
        let f32 = |t: Tensor| t.to_dtype(candle_core::DType::F32).unwrap();
        let a = f32((vector(99).abs().unwrap() + 0.5).unwrap());
        let ad = a.to_device(&device).unwrap();
        let mut host = Lbfgs::new(5, 1.0);
        let mut on_device = Lbfgs::new(5, 1.0);
        let mut xh = f32(vector(1));
        let mut xd = xh.to_device(&device).unwrap();
        for i in 0..13 {
            xh = host.step(&xh, &(&a * &xh).unwrap()).unwrap();
            xd = on_device.step(&xd, &(&ad * &xd).unwrap()).unwrap();
            let gap = relative_gap(&xh, &xd.to_device(&Device::Cpu).unwrap());
            assert!(gap <= 1e-4, "iteration {i}: {gap}");
        }
        assert_eq!(
            matches!(on_device.pairs, Pairs::Device(_)),
            !device.is_cpu(),
            "a GPU keeps its pairs in device memory"
        );
    }
}
