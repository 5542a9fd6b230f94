//! Presigned URLs for the attempt that holds a lease: the coordinator alone
//! holds the storage credentials, and a worker gets URLs for exactly the
//! objects its task may touch, expiring with the lease. A fenced-out
//! attempt gets none, and its URLs have expired by the time its task is
//! leased again (a lease is only re-granted after its deadline, which is
//! when every URL of it runs out).
//!
//! What an attempt may touch:
//! - read (GET, HEAD): `inputs/…` (content-addressed uploads), `cache/…`
//!   (shared style targets) and `jobs/<its job>/…` (outputs of the tasks it
//!   depends on);
//! - write (PUT): `jobs/<its job>/<its task>/…`, and `cache/targets/…` for
//!   tasks of kind `targets`.

use std::time::Duration;

use stylefarm_storage::Access;
use tracing::debug;

use crate::db::now_ms;
use crate::domain::{AttemptRef, output_prefix};
use crate::error::{CoordinatorError, Result};
use crate::repo::tasks;
use crate::report::check_fence;
use crate::server::Coordinator;

/// Most keys one Presign call may name.
pub(crate) const MAX_PRESIGN_KEYS: usize = 1000;

/// URLs the attempt may use, one per key, and when they expire (unix ms).
#[derive(Debug)]
pub(crate) struct Presigned {
    pub(crate) urls: Vec<String>,
    pub(crate) expires_ms: i64,
}

impl Coordinator {
    /// Signs `access` to each of `keys` for the attempt `at`, if it holds
    /// its lease and the keys are its task's to touch.
    pub(crate) async fn presign(
        &self,
        at: &AttemptRef,
        access: Access,
        keys: &[String],
    ) -> Result<Presigned> {
        if keys.len() > MAX_PRESIGN_KEYS {
            return Err(CoordinatorError::InvalidArgument {
                field: "keys",
                problem: format!(
                    "{} keys in one call; ask for at most {MAX_PRESIGN_KEYS}",
                    keys.len()
                ),
            });
        }
        let mut conn = self.db().read().await?;
        let task = tasks::get(conn.conn(), &at.task_id).await?.ok_or_else(|| {
            CoordinatorError::TaskNotFound {
                task_id: at.task_id.clone(),
            }
        })?;
        check_fence(&task, at)?;
        let expires_ms = tasks::lease_expires(conn.conn(), &at.task_id).await?;
        drop(conn);
        let left = u64::try_from(expires_ms.saturating_sub(now_ms())).unwrap_or(0);
        // At least a second: S3's smallest lifetime. The lease may end
        // within it; the next lease of the task starts later still.
        let lifetime = Duration::from_millis(left.max(1000));
        let own_prefix = output_prefix(&task.job_id, &task.task_id);
        let job_prefix = format!("jobs/{}/", task.job_id);
        let mut urls = Vec::with_capacity(keys.len());
        for key in keys {
            stylefarm_storage::check_key(key).map_err(|e| CoordinatorError::InvalidArgument {
                field: "keys",
                problem: e.to_string(),
            })?;
            let allowed = match access {
                Access::Get | Access::Head => {
                    key.starts_with("inputs/")
                        || key.starts_with("cache/")
                        || key.starts_with(&job_prefix)
                }
                Access::Put => {
                    key.starts_with(&own_prefix)
                        || (task.kind == "targets" && key.starts_with("cache/targets/"))
                }
            };
            if !allowed {
                return Err(CoordinatorError::PermissionDenied {
                    problem: format!(
                        "task {} may not {} {key}: it reads inputs/, cache/ and {job_prefix}, and writes below {own_prefix}",
                        task.task_id,
                        match access {
                            Access::Put => "write",
                            Access::Get | Access::Head => "read",
                        }
                    ),
                });
            }
            urls.push(self.store().presign(access, key, lifetime).await?);
        }
        debug!(task = %at.task_id, attempt = at.attempt, ?access, keys = keys.len(), "presigned");
        Ok(Presigned { urls, expires_ms })
    }
}
