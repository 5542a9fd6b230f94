//! [`CoordinatorError`]: everything the coordinator can refuse or fail at.
//! The gRPC layer maps each variant to one status code in
//! `service::status`.

use stylefarm_spec::InvalidSpec;
use stylefarm_storage::StorageError;

/// An error of the coordinator; each message says what was wrong and, where
/// the caller can fix it, what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// The job spec failed validation.
    #[error("invalid job spec: {0}")]
    InvalidSpec(#[from] InvalidSpec),
    /// A request field is missing or malformed.
    #[error("{field}: {problem}")]
    InvalidArgument {
        /// The request field.
        field: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A job refers to an input that storage does not hold.
    #[error("input {key} does not exist; upload it with UploadInput first")]
    MissingInput {
        /// The missing key.
        key: String,
    },
    /// No job has this id.
    #[error("no job {job_id} among the jobs this token may see")]
    JobNotFound {
        /// The unknown id.
        job_id: String,
    },
    /// No schedule has this name (among the caller's).
    #[error(
        "no schedule {name} among the schedules this token may see; `stylefarm schedule list` shows them"
    )]
    ScheduleNotFound {
        /// The unknown name.
        name: String,
    },
    /// A schedule of this name exists already.
    #[error("a schedule named {name} exists already; choose another name or delete it first")]
    ScheduleExists {
        /// The name taken.
        name: String,
    },
    /// Only a failed or cancelled job can be retried.
    #[error("job {job_id} is {state}; only a failed or cancelled job can be retried")]
    NotRetryable {
        /// The job.
        job_id: String,
        /// Its state now.
        state: String,
    },
    /// No task has this id.
    #[error("no task {task_id}")]
    TaskNotFound {
        /// The unknown id.
        task_id: String,
    },
    /// The worker id was never registered here.
    #[error("unknown worker {worker_id}; call Register first")]
    UnknownWorker {
        /// The unknown id.
        worker_id: String,
    },
    /// A call from an attempt that no longer holds the task (its lease
    /// expired and the task moved on). Nothing it reports is kept.
    #[error("attempt {attempt} of task {task_id} is stale; {holder}")]
    StaleAttempt {
        /// The task.
        task_id: String,
        /// The attempt the caller claimed.
        attempt: u32,
        /// Who holds the task now, in words.
        holder: String,
    },
    /// The task was cancelled (its job was cancelled or failed); the worker
    /// should stop working on it.
    #[error(
        "task {task_id} was cancelled because job {job_id} was cancelled or failed; stop working on it"
    )]
    TaskCancelled {
        /// The task.
        task_id: String,
        /// Its job.
        job_id: String,
    },
    /// A completion named an output outside its task's prefix.
    #[error("output {key} is outside the task's output prefix {prefix}; write outputs below it")]
    OutputOutsidePrefix {
        /// The offending key.
        key: String,
        /// The task's prefix.
        prefix: String,
    },
    /// A completion named an output that storage does not hold.
    #[error("output {key} does not exist in storage; upload it before calling Complete")]
    OutputMissing {
        /// The missing key.
        key: String,
    },
    /// A completion carried fewer outputs than the task kind produces.
    #[error("task {task_id} ({kind}) must report at least {min} output key(s), got {got}")]
    TooFewOutputs {
        /// The task.
        task_id: String,
        /// Its kind.
        kind: String,
        /// Least number of outputs.
        min: usize,
        /// Number reported.
        got: usize,
    },
    /// An upload exceeded the configured limit.
    #[error("upload exceeds the limit of {limit} bytes; shrink the file or raise max_upload_bytes")]
    UploadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The call carried no token, or one this farm does not accept
    /// (unknown, revoked, expired).
    #[error("{problem}")]
    Unauthenticated {
        /// What was wrong with the token and which one the call needs.
        problem: String,
    },
    /// A limit of the farm was reached: tasks per job, unfinished jobs per
    /// client, calls per second.
    #[error("{problem}")]
    LimitExceeded {
        /// Which limit, and what to do.
        problem: String,
    },
    /// The token is valid but its role may not make this call, or the job
    /// is another client's.
    #[error("{problem}")]
    PermissionDenied {
        /// Which token the call needs.
        problem: String,
    },
    /// A download named an object that does not exist.
    #[error("no object {key}")]
    ObjectNotFound {
        /// The key.
        key: String,
    },
    /// Object storage failed.
    #[error("storage: {0}")]
    Storage(#[source] StorageError),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The TLS connection to PostgreSQL could not be set up (the server's
    /// certificate was not trusted, or TLS was required and not offered).
    #[error(
        "database: TLS: {0}; check `sslrootcert` in the database URL (the PEM file of the CA \
         that signed the server's certificate) and that the URL's host is a name or address in \
         that certificate, or use sslmode=require to encrypt without checking (docs/deploy.md)"
    )]
    DatabaseTls(sqlx::Error),
    /// The schema migrations failed at start-up.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The HTTP server (health, metrics) could not use its listener.
    #[error("HTTP server: {0}")]
    Http(#[source] std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}; --tls-cert and --tls-key need a PEM certificate and its private key")]
    Tls(String),
    /// The database holds something this version cannot read.
    #[error("corrupt state: {0}")]
    Corrupt(String),
}

impl From<StorageError> for CoordinatorError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { key, .. } => Self::ObjectNotFound { key },
            other => Self::Storage(other),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = CoordinatorError> = std::result::Result<T, E>;
