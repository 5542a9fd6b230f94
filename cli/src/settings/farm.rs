//! [`FarmLayer`]: the coordinator's knobs, settable in `stylefarm.toml`
//! (`[farm]`), the environment (`STYLEFARM_FARM__…`) and flags of
//! `stylefarm coordinator`.

use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use stylefarm_coordinator::CoordinatorConfig;

use super::bytes::ByteSize;

/// How the coordinator treats leases, failures and uploads; unset values
/// keep `CoordinatorConfig`'s defaults.
#[derive(Args, Deserialize, Debug, Clone, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FarmLayer {
    /// Seconds a lease lives without a heartbeat [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub lease_timeout: Option<f64>,
    /// Seconds between a worker's heartbeats [default: 2, at most a third of the lease timeout].
    #[arg(long, value_name = "SECONDS")]
    pub heartbeat_interval: Option<f64>,
    /// Failed attempts of one task before the task and its job fail [default: 4].
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Seconds before the first retry of a failed task; doubles per failure [default: 1].
    #[arg(long, value_name = "SECONDS")]
    pub retry_backoff: Option<f64>,
    /// Failures of one job on one worker after which that worker is not given the job again
    /// (while another live worker could take it) [default: 2].
    #[arg(long, value_name = "N")]
    pub worker_job_failure_limit: Option<u32>,
    /// Largest accepted upload (e.g. 256MiB) [default: 256MiB].
    #[arg(long, value_name = "SIZE")]
    pub max_upload: Option<ByteSize>,
    /// Most tasks one job may be planned into [default: 100000].
    #[arg(long, value_name = "N")]
    pub max_tasks_per_job: Option<usize>,
    /// Most unfinished jobs one client may have [default: 1000].
    #[arg(long, value_name = "N")]
    pub max_queued_jobs_per_client: Option<u32>,
    /// Calls per second one token name may make, bursts of twice that; 0 = no limit
    /// [default: 500].
    #[arg(long, value_name = "N")]
    pub max_requests_per_second: Option<u32>,
}

impl FarmLayer {
    /// `over`'s values where set, else these.
    pub fn merge(self, over: FarmLayer) -> FarmLayer {
        FarmLayer {
            lease_timeout: over.lease_timeout.or(self.lease_timeout),
            heartbeat_interval: over.heartbeat_interval.or(self.heartbeat_interval),
            max_attempts: over.max_attempts.or(self.max_attempts),
            retry_backoff: over.retry_backoff.or(self.retry_backoff),
            worker_job_failure_limit: over
                .worker_job_failure_limit
                .or(self.worker_job_failure_limit),
            max_upload: over.max_upload.or(self.max_upload),
            max_tasks_per_job: over.max_tasks_per_job.or(self.max_tasks_per_job),
            max_queued_jobs_per_client: over
                .max_queued_jobs_per_client
                .or(self.max_queued_jobs_per_client),
            max_requests_per_second: over
                .max_requests_per_second
                .or(self.max_requests_per_second),
        }
    }

    /// Refuses values no coordinator can use, naming the key.
    pub fn check(&self) -> anyhow::Result<()> {
        let seconds = |name: &str, v: Option<f64>, zero_ok: bool| match v {
            Some(v) if !(v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0))) => {
                anyhow::bail!("{name} {v}: use a number of seconds > 0")
            }
            _ => Ok(()),
        };
        seconds("lease_timeout", self.lease_timeout, false)?;
        seconds("heartbeat_interval", self.heartbeat_interval, false)?;
        seconds("retry_backoff", self.retry_backoff, true)?;
        anyhow::ensure!(
            self.max_attempts != Some(0),
            "max_attempts 0: use at least 1"
        );
        anyhow::ensure!(
            self.max_tasks_per_job != Some(0),
            "max_tasks_per_job 0: use at least 1"
        );
        anyhow::ensure!(
            self.max_queued_jobs_per_client != Some(0),
            "max_queued_jobs_per_client 0: use at least 1"
        );
        if let Some(max) = self.max_upload {
            let limit = stylefarm_storage::MAX_INPUT_BYTES;
            anyhow::ensure!(
                max.0 <= limit,
                "max_upload {} bytes: at most {limit} (5 GiB, S3's limit for the copy that gives a \
                 large input its content address)",
                max.0
            );
        }
        Ok(())
    }

    /// Sets the knobs given (checked by [`FarmLayer::check`]); the heartbeat
    /// stays at most a third of the lease timeout, so that two missed beats
    /// do not lose a lease.
    pub fn apply(&self, c: &mut CoordinatorConfig) {
        let seconds = |v: f64| Duration::try_from_secs_f64(v).unwrap_or_default();
        if let Some(v) = self.lease_timeout {
            c.lease_timeout = seconds(v).max(Duration::from_millis(100));
        }
        if let Some(v) = self.heartbeat_interval {
            c.heartbeat_interval = seconds(v);
        }
        c.heartbeat_interval = c.heartbeat_interval.min(c.lease_timeout / 3);
        if let Some(v) = self.max_attempts {
            c.max_attempts = v;
        }
        if let Some(v) = self.retry_backoff {
            c.retry_backoff = seconds(v);
        }
        if let Some(v) = self.worker_job_failure_limit {
            c.worker_job_failure_limit = v;
        }
        if let Some(v) = self.max_upload {
            c.max_upload_bytes = v.0;
        }
        if let Some(v) = self.max_tasks_per_job {
            c.max_tasks_per_job = v;
        }
        if let Some(v) = self.max_queued_jobs_per_client {
            c.max_queued_jobs_per_client = v;
        }
        if let Some(v) = self.max_requests_per_second {
            c.max_requests_per_second = v;
        }
    }
}
