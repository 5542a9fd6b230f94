//! The client's one error type.

use std::path::PathBuf;

use stylefarm_spec::InvalidSpec;

/// What went wrong talking to a farm; each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL, token or CA certificate cannot be used.
    #[error(transparent)]
    Connection(#[from] stylefarm_proto::connect::ConnectError),
    /// Nothing answers at the URL.
    #[error(
        "cannot reach the coordinator at {url}: is `stylefarm coordinator` running there? ({cause})"
    )]
    Connect {
        url: String,
        // Not a source: the message says it, and `{:#}` would say it twice.
        cause: tonic::transport::Error,
    },
    /// The farm refused a call; its message says why.
    #[error("{what}: {}", .status.message())]
    Refused {
        /// What was asked, e.g. "the farm refused the job".
        what: String,
        status: tonic::Status,
    },
    /// A local file could not be read or written.
    #[error("{what} {}: {cause}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        // In the message, not a source (see `Connect`).
        cause: std::io::Error,
    },
    /// A picture is unreadable, truncated or too large (checked before upload).
    #[error(transparent)]
    Image(#[from] stylefarm_engine::EngineError),
    /// A video is unreadable, truncated, without frames, too large or of a
    /// variable frame rate (checked before upload), or ffmpeg is missing.
    #[error(transparent)]
    Video(#[from] stylefarm_video::VideoError),
    /// The job is invalid (checked before anything is uploaded).
    #[error("invalid job: {0}")]
    Invalid(InvalidSpec),
    /// The job ended without succeeding.
    #[error("job {job_id} {state}{}", if .error.is_empty() { String::new() } else { format!(": {}", .error) })]
    JobEnded {
        job_id: String,
        /// "failed", "was cancelled", …
        state: String,
        error: String,
    },
    /// Where the outputs should go does not suit the job.
    #[error("{0}")]
    Output(String),
    /// A stream from the farm broke off.
    #[error("{what} broke off: {}", .status.message())]
    Stream { what: String, status: tonic::Status },
    /// The embedded farm could not start or stop.
    #[error("embedded farm: {0}")]
    Embedded(String),
    /// A short job id that names no job, or several.
    #[error("{0}")]
    JobId(String),
}

// By hand, not `#[from]`: that would make the spec error a `#[source]`
// too, and `{:#}` would print it twice.
impl From<InvalidSpec> for ClientError {
    fn from(e: InvalidSpec) -> Self {
        ClientError::Invalid(e)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    pub(crate) fn refused(what: impl Into<String>) -> impl FnOnce(tonic::Status) -> ClientError {
        let what = what.into();
        move |status| ClientError::Refused { what, status }
    }
}
