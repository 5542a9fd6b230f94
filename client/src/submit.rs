//! [`LocalJob`]: a job whose pictures are files on this machine, and how it
//! reaches the farm: each file checked, uploaded once, its key put into
//! the spec, the spec checked, then submitted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use stylefarm_engine::Image;
use stylefarm_proto::pb;
use stylefarm_spec::{JobSpec, Picture, SeriesInputs};

use crate::error::{ClientError, Result};
use crate::farm::Farm;

/// A job whose pictures are local files. `spec` is complete but for the
/// input keys (and the content's size), which [`Farm::submit`] fills in:
/// `content` goes with `spec.content`, `contents[i]` with
/// `spec.contents[i]`, `styles[i]` with `spec.styles[i]`, `init_image`
/// with `spec.settings.init_key`, `content_mask` with `spec.content_mask`
/// and `style_masks[i]` with `spec.styles[i].mask`; `video` with
/// `spec.video` (whose frame count, frame size, rate and audio
/// [`Farm::submit`] finds by probing and decoding it).
#[derive(Debug, Clone)]
pub struct LocalJob {
    pub spec: JobSpec,
    pub content: Option<PathBuf>,
    pub contents: Vec<PathBuf>,
    pub styles: Vec<PathBuf>,
    pub init_image: Option<PathBuf>,
    /// The output's region map (semantic style transfer), or without
    /// `content` the doodle (docs/doodles.md).
    pub content_mask: Option<PathBuf>,
    /// One region map per style, in the order of `styles`; empty without a
    /// content mask.
    pub style_masks: Vec<PathBuf>,
    /// The source of a video job.
    pub video: Option<PathBuf>,
    /// A schedule's template whose content photos the farm chooses at each
    /// fire: `content` and `contents` are empty, and the checks put a
    /// stand-in photo in their place.
    pub series: Option<SeriesInputs>,
}

/// A picture's label: its file name without the extension, printable, at
/// most 200 characters.
pub fn label(p: &Path) -> String {
    p.file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect()
        })
        .unwrap_or_default()
}

impl LocalJob {
    /// The spec with every file's key (and the content's size) filled in.
    fn spec_with(
        &self,
        key: impl Fn(&Path) -> String,
        content_size: Option<(u32, u32)>,
        mask_size: Option<(u32, u32)>,
    ) -> JobSpec {
        let mut spec = self.spec.clone();
        if let Some(path) = &self.content {
            let c = spec.content.get_or_insert_with(Picture::default);
            c.key = key(path);
            // Sent for single jobs too: the coordinator splits one that is
            // too big for its workers into highres tiles.
            c.size = content_size.or(c.size);
        }
        for (c, path) in spec.contents.iter_mut().zip(&self.contents) {
            c.key = key(path);
        }
        for (s, path) in spec.styles.iter_mut().zip(&self.styles) {
            s.key = key(path);
        }
        if let Some(path) = &self.init_image {
            spec.settings.init_key = Some(key(path));
        }
        if let Some(path) = &self.content_mask {
            let m = spec.content_mask.get_or_insert_with(Picture::default);
            m.key = key(path);
            // A doodle's size follows from it.
            m.size = mask_size.or(m.size);
        }
        for (s, path) in spec.styles.iter_mut().zip(&self.style_masks) {
            s.mask = Some(key(path));
        }
        if let (Some(path), Some(v)) = (&self.video, spec.video.as_mut()) {
            v.key = key(path);
        }
        spec
    }

    /// Checks the job as the farm will, before any file is read or sent.
    /// The keys are stand-ins, and so are the content's and a doodle's size
    /// where they are not known yet: a square, which passes every rule a real
    /// size may fail (those are checked again, with the sizes, before the job
    /// is sent).
    pub fn check(&self) -> Result<()> {
        self.check_mask_count()?;
        let size = self.spec.settings.size;
        let square = Some((size, size));
        let known = self.spec.content.as_ref().and_then(|c| c.size);
        let mask = self.spec.content_mask.as_ref().and_then(|c| c.size);
        let mut spec = self.spec_with(
            |_| "inputs/local-file.png".into(),
            known.or(square),
            mask.or(square),
        );
        if let Some(series) = &self.series {
            series.check(&spec)?;
            spec = SeriesInputs::stand_in(&spec);
        }
        if let Some(v) = spec.video.as_mut().filter(|v| v.frames == 0) {
            // Stand-ins until the video is probed: one square frame.
            v.frames = 1;
            v.frame_size = (size & !1, size & !1);
            v.rate = 1.0;
        }
        Ok(spec.validate()?)
    }

    /// Probes the video and counts its frames as the farm will decode them
    /// (the cut, the rate, the frames' long side = the render size), and
    /// puts what it found into `spec.video`. Every bad video is refused
    /// here, each with its own error, before anything is uploaded.
    fn probe_video(&self, spec: &mut JobSpec) -> Result<()> {
        let (Some(path), Some(v)) = (&self.video, spec.video.as_mut()) else {
            return Ok(());
        };
        let options = stylefarm_video::DecodeOptions {
            long_side: Some(spec.settings.size as usize),
            fps: v.fps,
            start: v.start,
            duration: v.duration,
        };
        let (info, decoded) = stylefarm_video::count_frames(path, &options)?;
        v.frames = u32::try_from(decoded.frames).unwrap_or(u32::MAX);
        v.frame_size = (decoded.width as u32, decoded.height as u32);
        v.rate = decoded.fps;
        v.audio = info.has_audio;
        Ok(())
    }
}

impl Farm {
    /// Checks the job ([`LocalJob::check`]), its region maps (readable, one
    /// per style, regions in common) and every picture locally (a bad one is
    /// refused before anything is sent; `max_input_pixels` as the workers
    /// check it), uploads each file once, and submits. Returns the job id.
    pub async fn submit(&mut self, job: &LocalJob, max_input_pixels: u64) -> Result<String> {
        let spec = self.prepare(job, max_input_pixels).await?;
        self.submit_spec(spec).await
    }

    /// What [`Farm::submit`] does short of submitting: checks, uploads, and
    /// returns the wire spec naming the uploaded inputs (a schedule's
    /// template is made this way).
    pub async fn prepare(&mut self, job: &LocalJob, max_input_pixels: u64) -> Result<pb::JobSpec> {
        job.check()?;
        let mask_size = job.check_masks(max_input_pixels)?;
        let mut files: Vec<&Path> = job.content.iter().map(PathBuf::as_path).collect();
        files.extend(job.contents.iter().map(PathBuf::as_path));
        files.extend(job.styles.iter().map(PathBuf::as_path));
        files.extend(job.init_image.as_deref());
        files.extend(job.content_mask.as_deref());
        files.extend(job.style_masks.iter().map(PathBuf::as_path));
        let mut probed = job.spec.clone();
        job.probe_video(&mut probed)?;
        let mut keys: HashMap<PathBuf, String> = HashMap::new();
        if let Some(path) = &job.video {
            // Probed by ffprobe above; its bytes go up as they are read.
            let key = self.upload_path(path).await?;
            keys.insert(path.to_owned(), key);
        }
        let mut content_size = None;
        // A gallery's contents' sizes: the farm batches pairs of one size.
        let mut sizes: HashMap<PathBuf, (u32, u32)> = HashMap::new();
        for path in files {
            if keys.contains_key(path) {
                continue;
            }
            let bytes = std::fs::read(path).map_err(|cause| ClientError::Io {
                what: "cannot read",
                path: path.to_owned(),
                cause,
            })?;
            let img = Image::decode(&bytes, path, max_input_pixels)?;
            let size = (img.width as u32, img.height as u32);
            if job.content.as_deref() == Some(path) {
                content_size = Some(size);
            }
            sizes.insert(path.to_owned(), size);
            if job.styles.iter().any(|s| s == path) {
                job.spec
                    .check_style_size(&path.display().to_string(), size)?;
            }
            let key = self.upload(path, &bytes).await?;
            keys.insert(path.to_owned(), key);
        }
        let mut spec = LocalJob {
            spec: probed,
            ..job.clone()
        }
        .spec_with(|p| keys[p].clone(), content_size, mask_size);
        for (c, path) in spec.contents.iter_mut().zip(&job.contents) {
            c.size = sizes.get(path).copied().or(c.size);
        }
        match &job.series {
            Some(_) => SeriesInputs::stand_in(&spec).validate()?,
            None => spec.validate()?,
        }
        Ok(pb::JobSpec::from(&spec))
    }
}
