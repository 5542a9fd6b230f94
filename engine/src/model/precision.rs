//! The network's number format ([`Precision`]) on each device.
//!
//! | precision | CUDA | CPU |
//! |---|---|---|
//! | fp32 | f32 tensors, TF32 off | f32 |
//! | tf32 | f32 tensors; convolutions with TF32 multiplies (cuBLAS `set_gemm_reduced_precision_f32`, cuDNN's default math) | emulated: weights and every convolution's input rounded to 10 mantissa bits, f32 sums |
//! | bf16 | bf16 weights, activations and their gradients; f32 sums inside cuBLAS/cuDNN | emulated: the same tensors rounded to 7 mantissa bits, f32 sums |
//!
//! Whatever the precision, the model hands features out and takes feature
//! gradients in in its [`Vgg19::dtype`] (f32): Gram matrices, losses, the
//! image and the optimiser never see the shorter format. The CPU emulation
//! gives the GPU's numerics (up to summation order), not its speed: it is
//! there so that a render and its tests mean the same on every device.

use candle_core::{DType, Device, Tensor};

use super::weights::{ConvWeights, Vgg19};
use crate::error::{EngineError, Result};
use crate::ops::{self, BF16_MANTISSA, Kernel3x3, TF32_MANTISSA};

pub use stylefarm_spec::Precision;

/// The precision of a render that asks for none on `device`
/// ([`Precision::default_for`]: tf32 on CUDA, fp32 on the CPU).
pub fn default_precision(device: &Device) -> Precision {
    Precision::default_for(device.is_cuda())
}

impl Vgg19 {
    /// The same network at another precision. The weights are converted once
    /// here (cheap: no copy at all for fp32, nor for tf32 on CUDA); the
    /// result shares nothing mutable with `self`.
    ///
    /// Errors: tf32 and bf16 need an f32 model (the f64 models of the
    /// gradient tests run only at fp32).
    pub fn with_precision(&self, precision: Precision) -> Result<Vgg19> {
        if precision == self.precision {
            return Ok(self.clone());
        }
        if precision != Precision::Fp32 && self.dtype() != DType::F32 {
            return Err(EngineError::setting(
                "precision",
                format!(
                    "{precision} needs an f32 model, this one is {:?}",
                    self.dtype()
                ),
            ));
        }
        let mut net = self.clone();
        net.precision = precision;
        net.convs = if net.stores_exact_weights() {
            self.exact.clone()
        } else {
            let convert = |k: &Kernel3x3| -> Result<Kernel3x3> {
                Ok(Kernel3x3::new(net.weights_in_format(k.weights())?))
            };
            std::sync::Arc::new(
                self.exact
                    .iter()
                    .map(|c| {
                        Ok(ConvWeights {
                            w: convert(&c.w)?,
                            b: net.weights_in_format(&c.b)?,
                            w_back: convert(&c.w_back)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            )
        };
        Ok(net)
    }

    /// The network's number format.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The float type of the network's tensors: bf16 for bf16 on CUDA, the
    /// model's dtype otherwise (the CPU emulates in f32).
    pub fn network_dtype(&self) -> DType {
        if self.precision == Precision::Bf16 && !self.emulated() {
            DType::BF16
        } else {
            self.dtype()
        }
    }

    /// Whether the weights as loaded serve as they are: fp32 anywhere, and
    /// tf32 on CUDA (where the hardware rounds inside the multiply).
    fn stores_exact_weights(&self) -> bool {
        match self.precision {
            Precision::Fp32 => true,
            Precision::Tf32 => self.device().is_cuda(),
            Precision::Bf16 => false,
        }
    }

    /// Whether this network's tensors are emulated (CPU tf32/bf16).
    fn emulated(&self) -> bool {
        !self.device().is_cuda() && self.precision != Precision::Fp32
    }

    /// Weights as the network multiplies them.
    fn weights_in_format(&self, w: &Tensor) -> Result<Tensor> {
        match (self.precision, self.emulated()) {
            (Precision::Fp32, _) => Ok(w.clone()),
            (Precision::Tf32, true) => ops::round_mantissa(w, TF32_MANTISSA),
            (Precision::Bf16, true) => ops::round_mantissa(w, BF16_MANTISSA),
            (Precision::Tf32, false) => Ok(w.clone()),
            (Precision::Bf16, false) => Ok(w.to_dtype(DType::BF16)?),
        }
    }

    /// A tensor of the model's dtype (the image, a feature gradient) as the
    /// network stores it.
    pub(crate) fn to_network(&self, t: &Tensor) -> Result<Tensor> {
        match (self.precision, self.emulated()) {
            (Precision::Bf16, true) => ops::round_mantissa(t, BF16_MANTISSA),
            (Precision::Bf16, false) => Ok(t.to_dtype(DType::BF16)?),
            _ => Ok(t.clone()),
        }
    }

    /// A network tensor (a feature, the input gradient) in the model's dtype.
    pub(crate) fn out_of_network(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.to_dtype(self.dtype())?)
    }

    /// What a convolution multiplies: its input rounded to TF32 in the CPU
    /// emulation; as it is otherwise (bf16 tensors already are bf16).
    pub(crate) fn conv_input(&self, t: &Tensor) -> Result<Tensor> {
        match (self.precision, self.emulated()) {
            (Precision::Tf32, true) => ops::round_mantissa(t, TF32_MANTISSA),
            _ => Ok(t.clone()),
        }
    }

    /// What the network keeps of a result it computed in f32: rounded to
    /// bf16 in the CPU emulation (on CUDA a bf16 tensor already is).
    pub(crate) fn stored(&self, t: Tensor) -> Result<Tensor> {
        match (self.precision, self.emulated()) {
            (Precision::Bf16, true) => ops::round_mantissa(&t, BF16_MANTISSA),
            _ => Ok(t),
        }
    }

    /// Runs one convolution with cuBLAS's TF32 switch set for this
    /// precision, and off again after it, so that the Gram matrices'
    /// products stay strict f32 (as PyTorch's defaults: TF32 for
    /// convolutions, not for matmul). The switch is process-wide in
    /// candle: two renders of different precisions in one process may see
    /// each other's setting for a convolution or two.
    pub(crate) fn conv_with_math<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let tf32 = self.precision == Precision::Tf32;
            candle_core::cuda_backend::set_gemm_reduced_precision_f32(tf32);
            let r = f();
            if tf32 {
                candle_core::cuda_backend::set_gemm_reduced_precision_f32(false);
            }
            return r;
        }
        f()
    }
}
