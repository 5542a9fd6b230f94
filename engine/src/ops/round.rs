//! Rounding f32 values to a shorter mantissa: how the CPU emulates the GPU's
//! TF32 and bfloat16 formats (same exponent range as f32, 10 and 7 stored
//! mantissa bits), so that a render at those precisions has the GPU's
//! numerics on any device.

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::cpu::{is_cpu, tensor, with_slice};
use crate::error::{EngineError, Result};

/// Stored mantissa bits of TF32 (NVIDIA A100 whitepaper).
pub(crate) const TF32_MANTISSA: u32 = 10;
/// Stored mantissa bits of bfloat16.
pub(crate) const BF16_MANTISSA: u32 = 7;

/// `x: f32` rounded to the nearest value with `bits` stored mantissa bits,
/// ties to even (as `half::bf16::from_f32` and the tensor cores' conversion
/// do); infinities and NaN pass unchanged, overflow rounds to infinity.
pub(crate) fn round_mantissa_f32(x: f32, bits: u32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let drop = 23 - bits;
    let b = x.to_bits();
    let half = 1u32 << (drop - 1);
    let odd = (b >> drop) & 1;
    f32::from_bits((b + half - 1 + odd) & !((1u32 << drop) - 1))
}

/// [`round_mantissa_f32`] over a CPU f32 tensor of any shape.
pub(crate) fn round_mantissa(t: &Tensor, bits: u32) -> Result<Tensor> {
    if !is_cpu(t) || t.dtype() != DType::F32 {
        return Err(EngineError::Tensor(candle_core::Error::Msg(format!(
            "mantissa rounding emulates GPU formats on CPU f32 tensors, not {:?} on {:?}",
            t.dtype(),
            t.device().location()
        ))));
    }
    let out = with_slice::<f32, _>(t, |x| {
        let mut out = x.to_vec();
        out.par_chunks_mut(1 << 14)
            .for_each(|c| c.iter_mut().for_each(|v| *v = round_mantissa_f32(*v, bits)));
        out
    })?;
    tensor(out, t.dims())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_is_candles_cast() {
        let mut values = Vec::new();
        let mut x = 1.0e-30f32;
        while x < 1.0e30 {
            values.extend([x, -x, x * 1.001_953, x * 1.003_906_3, x * 1.005_859_4]);
            x *= 1.37;
        }
        let t = Tensor::new(values.as_slice(), &candle_core::Device::Cpu).unwrap();
        let want = t
            .to_dtype(DType::BF16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let got = round_mantissa(&t, BF16_MANTISSA).unwrap();
        assert_eq!(
            got.to_vec1::<f32>().unwrap(),
            want.to_vec1::<f32>().unwrap()
        );
        assert!(round_mantissa_f32(f32::MAX, BF16_MANTISSA).is_infinite());
        assert!(round_mantissa_f32(f32::NAN, BF16_MANTISSA).is_nan());
    }

    #[test]
    fn tf32_keeps_ten_bits_ties_to_even() {
        let ulp = 1.0 / 1024.0;
        assert_eq!(round_mantissa_f32(1.0 + ulp, TF32_MANTISSA), 1.0 + ulp);
        assert_eq!(round_mantissa_f32(1.0 + ulp / 2.0, TF32_MANTISSA), 1.0);
        assert_eq!(
            round_mantissa_f32(1.0 + 1.5 * ulp, TF32_MANTISSA),
            1.0 + 2.0 * ulp
        );
        assert_eq!(
            round_mantissa_f32(1.0 + 0.6 * ulp, TF32_MANTISSA),
            1.0 + ulp
        );
        let t = Tensor::new(&[[1.0f32 + 0.4 * ulp, -3.0]], &candle_core::Device::Cpu).unwrap();
        let r = round_mantissa(&t, TF32_MANTISSA).unwrap();
        assert_eq!(r.to_vec2::<f32>().unwrap(), vec![vec![1.0, -3.0]]);
    }
}
