//! Series inputs at fire time: the newest of the owner's files under the
//! schedule's prefix become the job's content photos.

use std::io::Cursor;

use stylefarm_spec::limits::DEFAULT_MAX_INPUT_PIXELS;
use stylefarm_spec::{JobKind, Picture, SeriesInputs};
use tracing::info;

use crate::error::{CoordinatorError, Result};
use crate::files::files_root;
use crate::repo::schedules::ScheduleRow;
use crate::server::Coordinator;

impl Coordinator {
    /// The photos of one fire of a schedule with series inputs: its owner's
    /// pictures under the prefix (`{date}`, `{time}`, `{schedule}` filled
    /// in), the newest N of them, each stored as a content-addressed input
    /// (so the job never sees a file replaced after its fire) with its size
    /// read from the picture's header. A gallery's photos are in path order.
    ///
    /// Errors: no picture under the prefix, a picture too large or that is
    /// no picture (the fire is recorded as failed, saying which).
    pub(super) async fn series_photos(
        &self,
        row: &ScheduleRow,
        inputs: &SeriesInputs,
        kind: JobKind,
        date: &str,
        time: &str,
    ) -> Result<Vec<Picture>> {
        let prefix = inputs.expand(&row.name, date, time);
        let root = files_root(&row.owner);
        let pictures: Vec<_> = self
            .owner_files(&row.owner, &prefix)
            .await?
            .into_iter()
            .filter(|f| stylefarm_storage::input_extension(&f.key).is_ok())
            .collect();
        if pictures.is_empty() {
            return Err(CoordinatorError::InvalidArgument {
                field: "inputs.prefix",
                problem: format!(
                    "no pictures under {root}{prefix} at this fire; upload some with `stylefarm files put {prefix} PHOTO…`"
                ),
            });
        }
        let take = inputs
            .take(kind)
            .unwrap_or(pictures.len())
            .min(pictures.len());
        let mut chosen = pictures[..take].to_vec();
        chosen.sort_by(|a, b| a.key.cmp(&b.key));
        let mut photos = Vec::with_capacity(chosen.len());
        for file in chosen {
            let key = format!("{root}{}", file.key);
            let bad = |problem: String| CoordinatorError::InvalidArgument {
                field: "inputs.prefix",
                problem: format!("{key}: {problem}"),
            };
            if file.size > self.upload_limit() {
                return Err(bad(format!(
                    "{} bytes, more than the farm takes ({} bytes)",
                    file.size,
                    self.upload_limit()
                )));
            }
            let bytes = self.store().get(&key).await?;
            let (width, height) = image::ImageReader::new(Cursor::new(&bytes))
                .with_guessed_format()
                .ok()
                .and_then(|r| r.into_dimensions().ok())
                .ok_or_else(|| {
                    bad("not a picture this farm reads (PNG, JPEG, WebP, GIF, BMP, TIFF)".into())
                })?;
            if u64::from(width) * u64::from(height) > DEFAULT_MAX_INPUT_PIXELS {
                return Err(bad(format!(
                    "{width}×{height} has more than {DEFAULT_MAX_INPUT_PIXELS} pixels"
                )));
            }
            let ext = self.upload_extension(&file.key)?;
            let (input_key, _) = self.store().put_input(bytes, &ext).await?;
            let name = file
                .key
                .rsplit('/')
                .next()
                .and_then(|n| n.rsplit_once('.').map(|(stem, _)| stem))
                .unwrap_or(&file.key)
                .to_owned();
            photos.push(Picture {
                key: input_key,
                name,
                size: Some((width, height)),
            });
        }
        info!(schedule = %row.name, prefix = %format!("{root}{prefix}"), photos = photos.len(), "series inputs chosen");
        Ok(photos)
    }
}
