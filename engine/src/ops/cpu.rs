//! Access to the host memory behind CPU tensors, for the engine's kernels.

use candle_core::{Device, Storage, Tensor, WithDType};

use crate::error::Result;

/// Element types the CPU kernels are written for: f32 for rendering, f64 for
/// the finite-difference gradient tests.
pub(crate) trait Elem: WithDType + Default {}
impl Elem for f32 {}
impl Elem for f64 {}

/// Runs `f` on the contiguous host slice of a CPU tensor.
pub(crate) fn with_slice<T: Elem, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return Err(candle_core::Error::Msg("expected a CPU tensor".into()).into());
    };
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("tensor is not contiguous".into()))?;
    Ok(f(&cpu.as_slice::<T>()?[start..end]))
}

/// A host vector as a CPU tensor of the given shape.
pub(crate) fn tensor<T: Elem>(data: Vec<T>, dims: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(data, dims, &Device::Cpu)?)
}

pub(crate) fn is_cpu(t: &Tensor) -> bool {
    matches!(t.device(), Device::Cpu)
}

/// Calls the f32 or f64 instance of a generic kernel, by the tensor's dtype.
macro_rules! by_dtype {
    ($t:expr, $f:ident ( $($arg:expr),* )) => {
        match $t.dtype() {
            candle_core::DType::F32 => $f::<f32>($($arg),*),
            candle_core::DType::F64 => $f::<f64>($($arg),*),
            other => Err(crate::error::EngineError::Tensor(candle_core::Error::Msg(format!(
                "the engine computes in f32 or f64, not {other:?}"
            )))),
        }
    };
}
pub(crate) use by_dtype;

pub(crate) fn dims3(t: &Tensor) -> Result<(usize, usize, usize)> {
    Ok(t.dims3()?)
}
