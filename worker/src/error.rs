//! The worker's one error type.

use std::path::{Path, PathBuf};

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(
        "cannot reach the coordinator at {url}: {message}; check that it runs and the URL is right"
    )]
    Connect { url: String, message: String },
    #[error("coordinator refused {call}: {status}")]
    Rpc {
        call: &'static str,
        status: tonic::Status,
    },
    #[error(transparent)]
    Engine(#[from] stylefarm_engine::EngineError),
    #[error(transparent)]
    Storage(#[from] stylefarm_storage::StorageError),
    #[error(transparent)]
    Video(#[from] stylefarm_video::VideoError),
    #[error("bad task: {0}")]
    BadTask(String),
    /// This machine's own files failed (full disk, unwritable temp folder):
    /// not the task's fault, so another worker may well succeed.
    #[error(
        "worker-local I/O at {path}: {source}; check the worker's disk and TMPDIR (the task is retried elsewhere)"
    )]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("worker thread failed: {0}")]
    Join(String),
    /// The worker stopped because its GPU failed; its tasks were released.
    #[error("{0}; the worker released its tasks and stopped")]
    DeviceFailed(String),
}

impl WorkerError {
    /// A [`WorkerError::Local`] at `path`.
    pub(crate) fn local(path: &Path, source: std::io::Error) -> Self {
        WorkerError::Local {
            path: path.to_owned(),
            source,
        }
    }

    /// Failures that retrying on another worker cannot fix. A local I/O
    /// failure is never one: the job must not fail for one worker's disk.
    pub(crate) fn is_permanent(&self) -> bool {
        use stylefarm_engine::EngineError as E;
        match self {
            WorkerError::BadTask(_) => true,
            WorkerError::Storage(e) => {
                matches!(e, stylefarm_storage::StorageError::NotFound { .. })
            }
            WorkerError::Engine(e) => {
                matches!(
                    e,
                    E::BadImage { .. }
                        | E::DamagedImage { .. }
                        | E::BadMask { .. }
                        | E::ImageTooLarge { .. }
                        | E::InvalidSetting { .. }
                )
            }
            // A bad video or flow file; a missing ffmpeg or its failure on
            // this machine may go better on another worker.
            WorkerError::Video(e) => {
                use stylefarm_video::VideoError as V;
                matches!(
                    e,
                    V::NotAVideo { .. }
                        | V::NoFrames { .. }
                        | V::Truncated { .. }
                        | V::ResolutionTooLarge { .. }
                        | V::VariableFrameRate { .. }
                        | V::Invalid { .. }
                )
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_io_failures_are_retried_elsewhere() {
        let full = std::io::Error::other("No space left on device");
        let e = WorkerError::local(Path::new("/tmp/stylefarm-worker-x"), full);
        assert!(!e.is_permanent());
        assert!(e.to_string().contains("No space left"), "{e}");
        assert!(WorkerError::BadTask("x".into()).is_permanent());
        let mask = stylefarm_engine::EngineError::BadMask {
            name: "inputs/m.png".into(),
            reason: "no flat colour region".into(),
        };
        assert!(WorkerError::Engine(mask).is_permanent());
    }

    #[test]
    fn a_damaged_input_fails_the_task_for_good() {
        let e = WorkerError::Engine(stylefarm_engine::EngineError::DamagedImage {
            path: "inputs/cut.jpg".into(),
            reason: "the JPEG data ends before its end marker".into(),
        });
        assert!(e.is_permanent());
    }
}
