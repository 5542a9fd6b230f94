//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong with a video. Every message says what was
/// wrong and what to do.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error(
        "the `{program}` program was not found on PATH: install the Debian package `{package}` \
         (apt-get install {package}) or your system's equivalent"
    )]
    ToolMissing {
        program: &'static str,
        package: &'static str,
    },

    #[error("{path} is not a video: {reason}")]
    NotAVideo { path: PathBuf, reason: String },

    #[error(
        "{path} has a video stream but no frames in it; check that the file was written completely"
    )]
    NoFrames { path: PathBuf },

    #[error("{path} is truncated or corrupt ({reason}); copy or download it again")]
    Truncated { path: PathBuf, reason: String },

    #[error(
        "{path} claims a resolution of {width}×{height}, beyond the limit of {limit} pixels a side; \
         such a header is corrupt or hostile: re-encode the video at a real size"
    )]
    ResolutionTooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        limit: u64,
    },

    #[error(
        "{path} has a variable frame rate (frame intervals from {min_interval:.4} s to {max_interval:.4} s); \
         pass a frame rate (--fps N) to resample it to a constant rate"
    )]
    VariableFrameRate {
        path: PathBuf,
        min_interval: f64,
        max_interval: f64,
    },

    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error("`{program}` failed on {path} ({status}): {stderr}")]
    Tool {
        program: &'static str,
        path: PathBuf,
        status: String,
        stderr: String,
    },

    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("optical flow failed: {0}")]
    Flow(#[from] opencv::Error),
}

impl VideoError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        VideoError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VideoError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = VideoError> = std::result::Result<T, E>;
