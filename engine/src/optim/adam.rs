//! Adam (Kingma & Ba) with β₁ = 0.9, β₂ = 0.999, ε = 1e-8.

#[cfg(feature = "cuda")]
use candle_core::DType;
use candle_core::Tensor;

use crate::error::Result;

const B1: f64 = 0.9;
const B2: f64 = 0.999;
const EPS: f64 = 1e-8;

pub struct Adam {
    lr: f64,
    t: i32,
    moments: Option<Moments>,
}

/// The first and second moments: two tensors, or on CUDA one `(2, ...)`
/// tensor that the engine's one-launch Adam kernel reads and writes.
enum Moments {
    Apart {
        m: Tensor,
        v: Tensor,
    },
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    Stacked(Tensor),
}

impl Adam {
    pub fn new(lr: f64) -> Adam {
        Adam {
            lr,
            t: 0,
            moments: None,
        }
    }

    pub fn step(&mut self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        self.t += 1;
        let bc1 = 1.0 - B1.powi(self.t);
        let bc2 = 1.0 - B2.powi(self.t);
        // On CUDA every step takes the kernel (contiguous copies if need
        // be), so that the stacked moments never meet the host form.
        #[cfg(feature = "cuda")]
        if x.device().is_cuda() && x.dtype() == DType::F32 && g.dtype() == DType::F32 {
            return self.step_cuda(&x.contiguous()?, &g.contiguous()?, bc1, bc2);
        }
        let (m, v) = match &self.moments {
            Some(Moments::Apart { m, v }) => (
                ((m * B1)? + (g * (1.0 - B1))?)?,
                ((v * B2)? + (g.sqr()? * (1.0 - B2))?)?,
            ),
            _ => ((g * (1.0 - B1))?, (g.sqr()? * (1.0 - B2))?),
        };
        let denom = ((v.sqrt()? / bc2.sqrt())? + EPS)?;
        let next = (x - ((&m / denom)? * (self.lr / bc1))?)?;
        self.moments = Some(Moments::Apart { m, v });
        Ok(next)
    }

    /// [`Adam::step`] in one launch (`ops::cuda::adam_step`), the moments
    /// stacked; the first step starts them at zero, which gives the same
    /// numbers as the host form's `(1 − β)·g`.
    #[cfg(feature = "cuda")]
    fn step_cuda(&mut self, x: &Tensor, g: &Tensor, bc1: f64, bc2: f64) -> Result<Tensor> {
        let moments = match self.moments.take() {
            Some(Moments::Stacked(mv)) => mv,
            _ => Tensor::zeros([&[2][..], x.dims()].concat(), x.dtype(), x.device())?,
        };
        let step = crate::ops::cuda::AdamStep {
            b1: B1 as f32,
            b2: B2 as f32,
            step: (self.lr / bc1) as f32,
            sqrt_bc2: bc2.sqrt() as f32,
            eps: EPS as f32,
        };
        let out = crate::ops::cuda::adam_step(x, g, &moments, step)?;
        self.moments = Some(Moments::Stacked(out.narrow(0, 1, 2)?));
        Ok(out.get(0)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;

    /// On `STYLEFARM_TEST_DEVICE` (on CUDA: the one-launch kernel) the steps
    /// of the CPU's Adam, f32, within 1e-5; on the CPU the CPU against
    /// itself.
    #[test]
    fn adam_on_the_test_device_steps_as_on_the_cpu() {
        let device = match std::env::var("STYLEFARM_TEST_DEVICE") {
            Ok(d) => crate::parse_device(&d).unwrap(),
            Err(_) => Device::Cpu,
        };
        let v: Vec<f32> = (0..3 * 7 * 5).map(|i| (i as f32 * 0.37).sin()).collect();
        let a = Tensor::from_vec(v, (3, 7, 5), &Device::Cpu).unwrap();
        let ad = a.to_device(&device).unwrap();
        let (mut host, mut on_device) = (Adam::new(0.5), Adam::new(0.5));
        let mut xh = (&a * 3.0).unwrap();
        let mut xd = xh.to_device(&device).unwrap();
        for i in 0..6 {
            // A quadratic's gradient, g = a ⊙ x + 0.1.
            let gh = ((&a * &xh).unwrap() + 0.1).unwrap();
            let gd = ((&ad * &xd).unwrap() + 0.1).unwrap();
            xh = host.step(&xh, &gh).unwrap();
            xd = on_device.step(&xd, &gd).unwrap();
            let got = xd.to_device(&Device::Cpu).unwrap();
            let diff = (&xh - &got).unwrap().abs().unwrap().max_all().unwrap();
            let diff = diff
                .to_dtype(DType::F32)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff <= 1e-5 * 3.0, "step {i}: {diff}");
        }
        assert_eq!(
            matches!(on_device.moments, Some(Moments::Stacked(_))),
            device.is_cuda(),
            "CUDA keeps the moments stacked"
        );
    }
}
