//! [`CoordinatorConfig`]: the knobs of one coordinator, with the defaults a
//! single machine wants.

use std::time::Duration;

use stylefarm_storage::StorageConfig;

/// How a [`Coordinator`](crate::Coordinator) keeps state, reaches storage and
/// treats workers.
#[derive(Clone)]
pub struct CoordinatorConfig {
    /// `sqlite://PATH` (created if missing) or `sqlite::memory:`.
    pub db_url: String,
    /// Where inputs and outputs live. Only the coordinator holds these
    /// credentials: workers get presigned URLs.
    pub storage: StorageConfig,
    /// A leased task whose worker has not heartbeated for this long is
    /// retried elsewhere.
    pub lease_timeout: Duration,
    /// How often workers are told to heartbeat.
    pub heartbeat_interval: Duration,
    /// Failed attempts of one task before the task and its job fail.
    pub max_attempts: u32,
    /// Delay before the first retry of a failed task; doubles per failure.
    pub retry_backoff: Duration,
    /// A worker that failed the same job this many times is not leased that
    /// job again (while another live worker could take it).
    pub worker_job_failure_limit: u32,
    /// Largest accepted `UploadInput`, in bytes.
    pub max_upload_bytes: u64,
    /// A token with the admin role, held only in memory (never stored):
    /// how a new farm creates its first tokens, and how the embedded farm
    /// authenticates its own client and workers. `None`: only stored
    /// tokens are accepted.
    pub admin_token: Option<String>,
    /// Most tasks one job may be planned into; a bigger job is refused
    /// (split it, or raise this).
    pub max_tasks_per_job: usize,
    /// Most unfinished (queued or running) jobs of one client; admins are
    /// not limited.
    pub max_queued_jobs_per_client: u32,
    /// Calls per second one token name may make (bursts of twice that);
    /// 0 = no limit. Admins are not limited.
    pub max_requests_per_second: u32,
    /// Certificate and key to serve gRPC over TLS; `None` serves plain
    /// HTTP/2 (loopback and trusted networks only).
    pub tls: Option<ServerTls>,
}

/// A TLS identity in PEM: the certificate chain and its private key.
#[derive(Clone)]
pub struct ServerTls {
    /// The certificate, then any intermediates.
    pub cert_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for CoordinatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorConfig")
            .field("db_url", &self.db_url)
            .field("storage", &self.storage)
            .field("lease_timeout", &self.lease_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("max_attempts", &self.max_attempts)
            .field("retry_backoff", &self.retry_backoff)
            .field("worker_job_failure_limit", &self.worker_job_failure_limit)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("max_tasks_per_job", &self.max_tasks_per_job)
            .field(
                "max_queued_jobs_per_client",
                &self.max_queued_jobs_per_client,
            )
            .field("max_requests_per_second", &self.max_requests_per_second)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl CoordinatorConfig {
    /// Default lease timeout.
    pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default heartbeat interval.
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
    /// Default attempts per task.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
    /// Default first retry delay.
    pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(1);
    /// Default per-(worker, job) failure limit.
    pub const DEFAULT_WORKER_JOB_FAILURE_LIMIT: u32 = 2;
    /// Default tasks per job: a 200-cell grid, a 16K print in tiles and an
    /// hour of video at 25 fps fit.
    pub const DEFAULT_MAX_TASKS_PER_JOB: usize = 100_000;
    /// Default unfinished jobs per client.
    pub const DEFAULT_MAX_QUEUED_JOBS_PER_CLIENT: u32 = 1000;
    /// Default calls per second per token: far above what a watching client
    /// or a worker with a few slots makes.
    pub const DEFAULT_MAX_REQUESTS_PER_SECOND: u32 = 500;
    /// Default upload limit: 256 MiB.
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 256 << 20;

    /// A configuration with every default except the two things only the
    /// caller knows: the database and the storage.
    pub fn new(db_url: impl Into<String>, storage: StorageConfig) -> Self {
        Self {
            db_url: db_url.into(),
            storage,
            lease_timeout: Self::DEFAULT_LEASE_TIMEOUT,
            heartbeat_interval: Self::DEFAULT_HEARTBEAT_INTERVAL,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            retry_backoff: Self::DEFAULT_RETRY_BACKOFF,
            worker_job_failure_limit: Self::DEFAULT_WORKER_JOB_FAILURE_LIMIT,
            max_upload_bytes: Self::DEFAULT_MAX_UPLOAD_BYTES,
            admin_token: None,
            max_tasks_per_job: Self::DEFAULT_MAX_TASKS_PER_JOB,
            max_queued_jobs_per_client: Self::DEFAULT_MAX_QUEUED_JOBS_PER_CLIENT,
            max_requests_per_second: Self::DEFAULT_MAX_REQUESTS_PER_SECOND,
            tls: None,
        }
    }

    /// Delay before retrying a task that has failed `failures` times (≥ 1):
    /// `retry_backoff · 2^(failures-1)`, capped at ten minutes.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.retry_backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let storage = StorageConfig {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "b".into(),
            prefix: String::new(),
            region: "us-east-1".into(),
            access_key: "a".into(),
            secret_key: "s".into(),
            public_endpoint: None,
        };
        let mut c = CoordinatorConfig::new("sqlite::memory:", storage);
        c.retry_backoff = Duration::from_millis(100);
        assert_eq!(c.backoff(1), Duration::from_millis(100));
        assert_eq!(c.backoff(2), Duration::from_millis(200));
        assert_eq!(c.backoff(4), Duration::from_millis(800));
        assert_eq!(c.backoff(60), Duration::from_secs(600));
    }
}
