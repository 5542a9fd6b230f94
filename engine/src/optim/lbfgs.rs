//! L-BFGS without line search, step for step as torch's `optim.lbfgs` that
//! neural-style drives: first step `min(1, 1/|g|₁)·lr`, then `lr`.

use std::collections::VecDeque;

use candle_core::Tensor;

use crate::error::Result;
use crate::ops::vector::{axpy, dot, sum_abs};

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
                let ys = dot(&y, &s)?;
                if ys > 1e-10 {
                    if self.pairs.len() == self.history {
                        self.pairs.pop_front();
                    }
                    self.h_diag = ys / dot(&y, &y)?;
                    self.pairs.push_back((s, y, 1.0 / ys));
                }
                (self.direction(g)?, self.lr)
            }
        };
        let step = (d * t)?;
        let next = (x + &step)?;
        self.prev = Some((g.clone(), step));
        Ok(next)
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
