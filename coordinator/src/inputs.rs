//! Moving files through the coordinator for clients, who never hold storage
//! credentials: uploads become content-addressed inputs, downloads read
//! inputs and job outputs.

use bytes::Bytes;
use tracing::{info, instrument};

use crate::error::{CoordinatorError, Result};
use crate::server::Coordinator;
use crate::tokens::{Caller, Role};

/// Key prefixes clients may download from.
const DOWNLOADABLE: &[&str] = &["jobs/", "inputs/", "files/", "series/"];

/// A stored input.
#[derive(Debug, Clone)]
pub(crate) struct StoredInput {
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) existed: bool,
}

impl Coordinator {
    /// The largest upload accepted, in bytes.
    pub(crate) fn upload_limit(&self) -> u64 {
        self.config().max_upload_bytes
    }

    /// The normalised extension of an uploaded file's name.
    pub(crate) fn upload_extension(&self, file_name: &str) -> Result<String> {
        stylefarm_storage::input_extension(file_name).map_err(|e| {
            CoordinatorError::InvalidArgument {
                field: "file_name",
                problem: e.to_string(),
            }
        })
    }

    /// Stores `data` as `inputs/<sha256>.<ext>` (once, however often it is
    /// uploaded).
    #[instrument(skip(self, data), fields(size = data.len()))]
    pub(crate) async fn store_input(&self, ext: &str, data: Bytes) -> Result<StoredInput> {
        if data.is_empty() {
            return Err(CoordinatorError::InvalidArgument {
                field: "data",
                problem: "the upload is empty; send the file's bytes".into(),
            });
        }
        let size = data.len() as u64;
        if size > self.upload_limit() {
            return Err(CoordinatorError::UploadTooLarge {
                limit: self.upload_limit(),
            });
        }
        let (key, existed) = self.store().put_input(data, ext).await?;
        info!(%key, existed, "input stored");
        Ok(StoredInput { key, size, existed })
    }

    /// The object at `key`, which must be an input, an output of a job
    /// `caller` may see, one of `caller`'s files or a run of one of
    /// `caller`'s series. (Inputs are content-addressed: their key is the
    /// SHA-256 of their bytes, which only a holder of the bytes knows.)
    pub(crate) async fn download(&self, key: &str, caller: &Caller) -> Result<Bytes> {
        if !DOWNLOADABLE.iter().any(|p| key.starts_with(p)) {
            return Err(CoordinatorError::InvalidArgument {
                field: "key",
                problem: format!(
                    "{key:?} is no job output (jobs/…), input (inputs/…), file (files/…) or series run (series/…)"
                ),
            });
        }
        stylefarm_storage::check_key(key).map_err(|e| CoordinatorError::InvalidArgument {
            field: "key",
            problem: e.to_string(),
        })?;
        let first = |rest: &str| rest.split('/').next().unwrap_or_default().to_owned();
        if caller.role != Role::Admin {
            if let Some(rest) = key.strip_prefix("jobs/") {
                self.check_owner(&first(rest), caller).await?;
            } else if let Some(rest) = key.strip_prefix("files/")
                && first(rest) != caller.name
            {
                return Err(CoordinatorError::InvalidArgument {
                    field: "key",
                    problem: format!("{key:?} is not among your files (files/{}/…)", caller.name),
                });
            } else if let Some(rest) = key.strip_prefix("series/") {
                self.check_series_owner(&first(rest), caller).await?;
            }
        }
        self.store().get(key).await.map_err(CoordinatorError::from)
    }
}
