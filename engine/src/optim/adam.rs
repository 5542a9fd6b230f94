//! Adam (Kingma & Ba) with β₁ = 0.9, β₂ = 0.999, ε = 1e-8.

use candle_core::Tensor;

use crate::error::Result;

pub struct Adam {
    lr: f64,
    t: i32,
    m: Option<Tensor>,
    v: Option<Tensor>,
}

impl Adam {
    pub fn new(lr: f64) -> Adam {
        Adam {
            lr,
            t: 0,
            m: None,
            v: None,
        }
    }

    pub fn step(&mut self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.t += 1;
        let m = match &self.m {
            Some(m) => ((m * B1)? + (g * (1.0 - B1))?)?,
            None => (g * (1.0 - B1))?,
        };
        let g2 = g.sqr()?;
        let v = match &self.v {
            Some(v) => ((v * B2)? + (g2 * (1.0 - B2))?)?,
            None => (g2 * (1.0 - B2))?,
        };
        let bc1 = 1.0 - B1.powi(self.t);
        let bc2 = 1.0 - B2.powi(self.t);
        let denom = ((v.sqrt()? / bc2.sqrt())? + 1e-8)?;
        let next = (x - ((&m / denom)? * (self.lr / bc1))?)?;
        self.m = Some(m);
        self.v = Some(v);
        Ok(next)
    }
}
