//! A client's files: pictures kept under `files/<owner>/…` in storage,
//! uploaded by path (`stylefarm files put`) or written there by anything
//! that holds storage credentials, for schedules to choose their series
//! inputs from (docs/schedules.md). Unlike inputs they are not
//! content-addressed: a path names the newest upload to it.

use stylefarm_storage::{StoredObject, Upload};
use tracing::instrument;

use crate::error::{CoordinatorError, Result};
use crate::server::Coordinator;
use crate::tokens::Caller;

/// Files listed at most by one call.
const MAX_LISTED: usize = 10_000;

/// `files/<owner>/`, where `owner`'s files live.
pub(crate) fn files_root(owner: &str) -> String {
    format!("files/{owner}/")
}

impl Coordinator {
    /// Starts storing an upload at `files/<caller>/<path>`, replacing what
    /// is there once finished ([`Coordinator::finish_upload`]).
    ///
    /// Errors: a path that is no relative key, or whose extension is no
    /// picture's.
    #[instrument(skip(self, caller), fields(by = %caller.name))]
    pub(crate) fn start_file_upload(&self, path: &str, caller: &Caller) -> Result<Upload> {
        let bad = |problem: String| CoordinatorError::InvalidArgument {
            field: "file_path",
            problem,
        };
        if path.starts_with('/') || path.ends_with('/') || path.split('/').any(|p| p == "..") {
            return Err(bad(format!(
                "{path:?} is not a relative file path; give e.g. photos/2026-12-01/beach.jpg"
            )));
        }
        self.upload_extension(path)?;
        let key = format!("{}{path}", files_root(&caller.name));
        stylefarm_storage::check_key(&key).map_err(|e| bad(e.to_string()))?;
        Ok(self.store().upload(&key)?)
    }

    /// The files of `owner` under `prefix` (relative to their files),
    /// newest first (ties by path). Keys are relative to `files/<owner>/`.
    pub(crate) async fn owner_files(&self, owner: &str, prefix: &str) -> Result<Vec<StoredObject>> {
        let root = files_root(owner);
        let full = format!("{root}{prefix}");
        stylefarm_storage::check_key(full.trim_end_matches('/')).map_err(|e| {
            CoordinatorError::InvalidArgument {
                field: "prefix",
                problem: format!("{e}; give a path under your files, e.g. photos/2026-12-01/"),
            }
        })?;
        let mut files = self.store().list_objects(&full).await?;
        for f in &mut files {
            f.key = f.key.strip_prefix(&root).unwrap_or(&f.key).to_owned();
        }
        files.sort_by(|a, b| b.modified_ms.cmp(&a.modified_ms).then(a.key.cmp(&b.key)));
        files.truncate(MAX_LISTED);
        Ok(files)
    }
}
