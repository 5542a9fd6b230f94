//! Moving files through the coordinator for clients, who never hold storage
//! credentials: uploads become content-addressed inputs, downloads read
//! inputs and job outputs. Both move in pieces (S3 multipart upload,
//! chunked reads): the coordinator holds at most a part of each.

use stylefarm_storage::{ObjectReader, Upload, Uploaded};
use tracing::{info, instrument};

use crate::error::{CoordinatorError, Result};
use crate::server::Coordinator;
use crate::tokens::{Caller, Role};

/// Key prefixes clients may download from.
const DOWNLOADABLE: &[&str] = &["jobs/", "inputs/", "files/", "series/"];

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

    /// Starts storing an upload named `file_name` as `inputs/<sha256>.<ext>`
    /// (once, however often it is uploaded); see [`Coordinator::finish_upload`].
    ///
    /// Errors: an extension that is no picture's.
    pub(crate) fn start_input_upload(&self, file_name: &str) -> Result<Upload> {
        let ext = self.upload_extension(file_name)?;
        Ok(self.store().upload_input(&ext)?)
    }

    /// Stores what was written to `upload` (an input, or a file of
    /// [`Coordinator::start_file_upload`]), which the caller kept within
    /// [`Coordinator::upload_limit`].
    ///
    /// Errors: an empty upload (nothing is stored), storage's.
    #[instrument(skip_all, fields(size = upload.size()))]
    pub(crate) async fn finish_upload(&self, upload: Upload) -> Result<Uploaded> {
        if upload.size() == 0 {
            return Err(CoordinatorError::InvalidArgument {
                field: "data",
                problem: "the upload is empty; send the file's bytes".into(),
            });
        }
        let stored = upload.finish().await?;
        info!(key = %stored.key, existed = stored.existed, "upload stored");
        Ok(stored)
    }

    /// The object at `key`, which must be an input, an output of a job
    /// `caller` may see, one of `caller`'s files or a run of one of
    /// `caller`'s series. (Inputs are content-addressed: their key is the
    /// SHA-256 of their bytes, which only a holder of the bytes knows.)
    ///
    /// The object is read chunk by chunk, so that no download is held whole.
    pub(crate) async fn download(&self, key: &str, caller: &Caller) -> Result<ObjectReader> {
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
        self.store().read(key).await.map_err(CoordinatorError::from)
    }
}
