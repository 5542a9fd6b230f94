//! The worker's one error type.

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
    #[error("bad task: {0}")]
    BadTask(String),
    #[error("worker thread failed: {0}")]
    Join(String),
}

impl WorkerError {
    /// Failures that retrying on another worker cannot fix.
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
                    E::BadImage { .. } | E::ImageTooLarge { .. } | E::InvalidSetting { .. }
                )
            }
            _ => false,
        }
    }
}
