//! The engine's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the engine. Every message says what was
/// wrong and, where the user can act on it, what to do.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read image {path}: {reason}")]
    BadImage { path: PathBuf, reason: String },

    /// The file is cut off or its bytes were changed: the decoder would
    /// otherwise fill in the missing part (zune-jpeg paints it grey).
    #[error(
        "image {path} is incomplete or corrupt: {reason}; copy or download it again, \
         or export it again from the original"
    )]
    DamagedImage { path: PathBuf, reason: String },

    #[error(
        "image {path} is {width}×{height} = {pixels} pixels, more than the limit of {limit} pixels; \
         shrink it first or raise the limit (--max-input-pixels)"
    )]
    ImageTooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        pixels: u64,
        limit: u64,
    },

    #[error("invalid setting {field}: {reason}")]
    InvalidSetting { field: &'static str, reason: String },

    #[error(
        "no model file at {path}: run `stylefarm model fetch` to download the default VGG-19, \
         or pass --model PATH / set STYLEFARM_MODEL"
    )]
    ModelMissing { path: PathBuf },

    #[error("cannot load model {path}: {reason}")]
    BadModel { path: PathBuf, reason: String },

    /// A region map (semantic style transfer, neural doodles) that cannot be
    /// read or used; `name` is its path or role ("content mask").
    #[error("mask {name}: {reason}")]
    BadMask { name: String, reason: String },

    #[error("rendering was cancelled")]
    Cancelled,

    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },

    /// The GPU could not allocate what an evaluation needs. `needed` is
    /// the engine's estimate for the evaluation that failed (bytes); `tile`
    /// the tile it used, if any.
    #[error(
        "out of GPU memory on {device} rendering {width}×{height}{}: the engine estimates \
         {} MiB for it ({detail}); pass --tile 512 or a smaller --max-memory to render it in \
         exact tiles, or lower --size",
        tile.map(|t| format!(" in tiles of {t} px")).unwrap_or_default(),
        needed >> 20
    )]
    OutOfMemory {
        device: String,
        width: usize,
        height: usize,
        tile: Option<usize>,
        needed: u64,
        detail: String,
    },

    /// The driver or the GPU failed in a way that leaves the device unusable
    /// to this process (CUDA's "sticky" errors, or the device gone).
    #[error(
        "the GPU {device} failed: {detail}; this is a driver or hardware fault, not the job's: \
         check `nvidia-smi` and the kernel log, then restart the worker"
    )]
    DeviceFailed { device: String, detail: String },

    /// Pictures given to `render_batch` that cannot share its passes; each
    /// renders fine on its own.
    #[error("these pictures cannot be rendered as one batch: {reason}; render them one at a time")]
    NotBatchable { reason: String },

    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Error names (cudarc's spelling of CUDA's, cuBLAS's and cuDNN's status
/// codes) that mean the allocation failed.
const OUT_OF_MEMORY: &[&str] = &[
    "CUDA_ERROR_OUT_OF_MEMORY",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_ALLOC_FAILED",
    "out of memory",
];

/// CUDA errors after which the context is unusable ("sticky" errors in the
/// CUDA Runtime API's documentation of `cudaGetLastError`), or the device is
/// gone: only a new process can use the GPU again.
const DEVICE_FAILED: &[&str] = &[
    "CUDA_ERROR_ILLEGAL_ADDRESS",
    "CUDA_ERROR_LAUNCH_FAILED",
    "CUDA_ERROR_HARDWARE_STACK_ERROR",
    "CUDA_ERROR_ILLEGAL_INSTRUCTION",
    "CUDA_ERROR_MISALIGNED_ADDRESS",
    "CUDA_ERROR_INVALID_ADDRESS_SPACE",
    "CUDA_ERROR_INVALID_PC",
    "CUDA_ERROR_LAUNCH_TIMEOUT",
    "CUDA_ERROR_ECC_UNCORRECTABLE",
    "CUDA_ERROR_NVLINK_UNCORRECTABLE",
    "CUDA_ERROR_DEVICE_UNAVAILABLE",
    "CUDA_ERROR_NO_DEVICE",
    "CUDA_ERROR_CONTEXT_IS_DESTROYED",
    "CUDA_ERROR_UNKNOWN",
];

/// What the engine knows of the evaluation a tensor error came from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Evaluating {
    pub(crate) dims: (usize, usize),
    pub(crate) tile: Option<usize>,
    pub(crate) needed: u64,
}

impl EngineError {
    pub(crate) fn setting(field: &'static str, reason: impl Into<String>) -> Self {
        EngineError::InvalidSetting {
            field,
            reason: reason.into(),
        }
    }

    /// A tensor error from `device` named for what it means to the user:
    /// [`EngineError::OutOfMemory`] or [`EngineError::DeviceFailed`] by the
    /// error's text (candle passes cudarc's errors on as text); anything
    /// else, and every error on the CPU, unchanged.
    pub(crate) fn on_device(self, device: &candle_core::Device, at: Evaluating) -> EngineError {
        let candle_core::DeviceLocation::Cuda { gpu_id } = device.location() else {
            return self;
        };
        self.on_gpu(format!("cuda:{gpu_id}"), at)
    }

    /// [`EngineError::on_device`] for a GPU named `device`.
    fn on_gpu(self, device: String, at: Evaluating) -> EngineError {
        let EngineError::Tensor(e) = &self else {
            return self;
        };
        let detail = e.to_string();
        let name = device;
        if OUT_OF_MEMORY.iter().any(|p| detail.contains(p)) {
            EngineError::OutOfMemory {
                device: name,
                width: at.dims.0,
                height: at.dims.1,
                tile: at.tile,
                needed: at.needed,
                detail,
            }
        } else if DEVICE_FAILED.iter().any(|p| detail.contains(p)) {
            EngineError::DeviceFailed {
                device: name,
                detail,
            }
        } else {
            self
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn from_gpu(text: &str) -> EngineError {
        let at = Evaluating {
            dims: (8192, 6144),
            tile: None,
            needed: 150 << 30,
        };
        EngineError::Tensor(candle_core::Error::Msg(text.into())).on_gpu("cuda:0".into(), at)
    }

    /// The texts are cudarc's `Debug` of its errors, which candle's
    /// `Display` shows.
    #[test]
    fn gpu_errors_are_named_for_what_the_user_can_do() {
        let oom = from_gpu(r#"DriverError(CUDA_ERROR_OUT_OF_MEMORY, "out of memory")"#);
        let text = oom.to_string();
        assert!(matches!(oom, EngineError::OutOfMemory { .. }), "{oom:?}");
        for want in [
            "cuda:0",
            "8192×6144",
            "153600 MiB",
            "--tile",
            "--max-memory",
        ] {
            assert!(text.contains(want), "{want} missing: {text}");
        }
        let cublas = from_gpu("CublasError(CUBLAS_STATUS_ALLOC_FAILED)");
        assert!(matches!(cublas, EngineError::OutOfMemory { .. }));
        let failed = from_gpu(
            r#"DriverError(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered")"#,
        );
        assert!(
            matches!(failed, EngineError::DeviceFailed { .. }),
            "{failed:?}"
        );
        assert!(
            failed.to_string().contains("restart the worker"),
            "{failed}"
        );
        let other = from_gpu("shape mismatch in add, lhs: [3, 4], rhs: [3, 5]");
        assert!(matches!(other, EngineError::Tensor(_)), "{other:?}");
        let cpu = EngineError::Tensor(candle_core::Error::Msg("out of memory".into())).on_device(
            &candle_core::Device::Cpu,
            Evaluating {
                dims: (1, 1),
                tile: None,
                needed: 0,
            },
        );
        assert!(
            matches!(cpu, EngineError::Tensor(_)),
            "the CPU aborts instead"
        );
    }
}
