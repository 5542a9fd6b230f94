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

    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl EngineError {
    pub(crate) fn setting(field: &'static str, reason: impl Into<String>) -> Self {
        EngineError::InvalidSetting {
            field,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
