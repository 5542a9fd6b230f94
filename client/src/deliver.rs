//! Where a finished job's outputs go on this machine, with names a person
//! understands and no task id in any path:
//!
//! - a job of one picture (single, texture, highres) with `-o FILE.png` (or
//!   `.jpg`, …) writes that file (re-encoded when not PNG); its animation
//!   goes to `FILE.gif` (or the path asked for) and snapshots to
//!   `FILE_<iteration>.png` (`FILE_<scale>_<iteration>.png` with several
//!   scales);
//! - into a folder: `<content>__<style>.png` for single pictures and
//!   gallery pairs (`texture__<style>.png` for textures), `r<row>c<col>.png`
//!   and `sheet.png` for grids, `sheet.png` and `gallery/` (the HTML page
//!   with its images) for galleries;
//! - a video job with `-o FILE.mp4` writes that file, `FILE-preview.mp4`
//!   (source and result side by side), `FILE.gif`/`FILE.webp` when asked
//!   for, and `FILE.warping-error.json`; into a folder the same files named
//!   `<video>__<style>…`;
//! - and, in a folder, a `manifest.json` with each picture's content,
//!   styles and settings.

use std::path::{Path, PathBuf};

use stylefarm_engine::Image;
use stylefarm_proto::pb;
use stylefarm_spec::geometry::grid_cells;
use stylefarm_spec::{GridAxis, JobKind, JobSpec, RenderSettings, Scales, StyleInput};

use crate::error::{ClientError, Result};
use crate::farm::Farm;

/// Extensions that make `-o` a picture file rather than a folder.
const PICTURE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"];

/// One output to download.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its key in storage.
    pub key: String,
    /// Where it goes.
    pub path: PathBuf,
    /// What it shows, for the manifest; `None` for files that are not
    /// pictures of the job (the gallery page's own files, snapshots).
    pub entry: Option<ManifestEntry>,
}

/// One picture of the manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ManifestEntry {
    /// The file, relative to the manifest.
    pub file: String,
    /// The content photo's name ("" for textures).
    pub content: String,
    /// The style blend.
    pub styles: Vec<ManifestStyle>,
    /// The render settings of this picture (a grid cell's style weight
    /// included).
    pub settings: RenderSettings,
}

/// A style of a manifest entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ManifestStyle {
    pub name: String,
    pub weight: f64,
}

/// Where each output of `job` goes below `dest`. `animation`: where the
/// user asked the animation to go, if anywhere.
pub fn plan(job: &pb::Job, dest: &Path, animation: Option<&Path>) -> Result<Vec<Delivery>> {
    let wire = job
        .spec
        .as_ref()
        .ok_or_else(|| ClientError::Embedded("the farm sent a job without its spec".into()))?;
    let spec = JobSpec::try_from(wire)?;
    let file = is_output_file(spec.kind, dest);
    let one_picture = matches!(
        spec.kind,
        JobKind::Single | JobKind::Texture | JobKind::Highres
    );
    if spec.kind == JobKind::Video && !file && is_picture_file(dest) {
        return Err(ClientError::Output(format!(
            "a video job writes an MP4: give -o a name.mp4 or a folder, not {} (add --video-format gif or webp for an animated picture beside it)",
            dest.display()
        )));
    }
    if file && !one_picture && spec.kind != JobKind::Video {
        return Err(ClientError::Output(format!(
            "a {} job makes several pictures: give -o a folder, not {}",
            spec.kind,
            dest.display()
        )));
    }
    let mut out = Vec::new();
    for key in &job.output_keys {
        // jobs/<job>/<task>/<name…>
        let name = key.splitn(4, '/').nth(3).unwrap_or(key);
        if let Some(d) = place(&spec, name, dest, file, animation) {
            out.push(Delivery {
                key: key.clone(),
                ..d
            });
        }
    }
    Ok(out)
}

/// Where the output `name` (its path below its task's prefix) goes.
fn place(
    spec: &JobSpec,
    name: &str,
    dest: &Path,
    file: bool,
    animation: Option<&Path>,
) -> Option<Delivery> {
    let to = Destination::new(spec, dest, file);
    match spec.kind {
        JobKind::Single | JobKind::Texture | JobKind::Highres => to.picture(name, animation),
        JobKind::Grid => to.grid(name),
        JobKind::Gallery => to.gallery(name),
        JobKind::Video => to.video(name),
    }
}

/// Where a job's outputs go: the folder, and the stem of a one-picture
/// job's files.
struct Destination<'a> {
    spec: &'a JobSpec,
    dest: &'a Path,
    file: bool,
    base: PathBuf,
    stem: String,
    content: &'a str,
}

impl<'a> Destination<'a> {
    fn new(spec: &'a JobSpec, dest: &'a Path, file: bool) -> Self {
        // A doodle's pictures are named after the doodle, a video's after
        // the video.
        let content = spec
            .content
            .as_ref()
            .or(spec.content_mask.as_ref())
            .map(|c| c.name.as_str())
            .or(spec.video.as_ref().map(|v| v.name.as_str()))
            .unwrap_or("");
        let (base, stem) = if file {
            (
                dest.parent().unwrap_or(Path::new("")).to_path_buf(),
                dest.file_stem()
                    .map_or_else(|| "out".into(), |s| s.to_string_lossy().into_owned()),
            )
        } else {
            (dest.to_path_buf(), pair_name(content, &spec.styles))
        };
        Destination {
            spec,
            dest,
            file,
            base,
            stem,
            content,
        }
    }

    /// A file that is not one of the job's pictures.
    fn other(&self, path: PathBuf) -> Option<Delivery> {
        Some(Delivery {
            key: String::new(),
            path,
            entry: None,
        })
    }

    /// One of the job's pictures, with its manifest entry.
    fn picture_at(
        &self,
        path: PathBuf,
        content: &str,
        styles: Vec<StyleInput>,
        settings: RenderSettings,
    ) -> Option<Delivery> {
        let entry = ManifestEntry {
            file: path.file_name()?.to_string_lossy().into_owned(),
            content: content.to_owned(),
            styles: styles
                .iter()
                .map(|s| ManifestStyle {
                    name: s.name.clone(),
                    weight: s.weight,
                })
                .collect(),
            settings,
        };
        Some(Delivery {
            key: String::new(),
            path,
            entry: Some(entry),
        })
    }

    /// single, texture, highres: the picture, its animation, its snapshots.
    fn picture(&self, name: &str, animation: Option<&Path>) -> Option<Delivery> {
        let spec = self.spec;
        if name == "result.png" {
            let path = if self.file {
                self.dest.to_path_buf()
            } else {
                self.base.join(format!("{}.png", self.stem))
            };
            return self.picture_at(
                path,
                self.content,
                spec.styles.clone(),
                spec.settings.clone(),
            );
        }
        if name == "animation.gif" {
            let path = animation.map_or_else(
                || self.base.join(format!("{}.gif", self.stem)),
                Path::to_path_buf,
            );
            return self.other(path);
        }
        let snap = name.strip_prefix("snapshots/")?.trim_end_matches(".png");
        let (scale, iteration) = snap.split_once('-').unwrap_or(("1", snap));
        let iteration = iteration.trim_start_matches('0');
        let file_name = if spec.settings.scales == Scales::Single {
            format!("{}_{iteration}.png", self.stem)
        } else {
            format!("{}_{scale}_{iteration}.png", self.stem)
        };
        self.other(self.base.join(file_name))
    }

    /// video: the MP4 (`<name>.mp4`), its preview, the extra formats and
    /// the warping-error report, each named after `-o` or the pair.
    fn video(&self, name: &str) -> Option<Delivery> {
        let spec = self.spec;
        let video = spec.video.as_ref()?;
        if name == stylefarm_spec::video::REPORT_NAME {
            return self.other(self.base.join(format!("{}.warping-error.json", self.stem)));
        }
        let suffix = name.strip_prefix(&stylefarm_spec::video::result_stem(&video.name))?;
        if suffix == ".mp4" {
            let path = if self.file {
                self.dest.to_path_buf()
            } else {
                self.base.join(format!("{}.mp4", self.stem))
            };
            return self.picture_at(
                path,
                self.content,
                spec.styles.clone(),
                spec.settings.clone(),
            );
        }
        self.other(self.base.join(format!("{}{suffix}", self.stem)))
    }

    /// grid: the sheet, and each cell (`cells/rR-cC.png`) as `rRcC.png`.
    fn grid(&self, name: &str) -> Option<Delivery> {
        let spec = self.spec;
        if name == "sheet.png" {
            return self.other(self.base.join("sheet.png"));
        }
        let (r, c) = name
            .strip_prefix("cells/r")?
            .strip_suffix(".png")?
            .split_once("-c")?;
        let (r, c): (u32, u32) = (r.parse().ok()?, c.parse().ok()?);
        let (_, _, cells) = grid_cells(spec);
        let cell = cells.iter().find(|g| g.row == r && g.col == c)?;
        let styles = spec
            .styles
            .iter()
            .zip(&cell.weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(s, w)| StyleInput {
                weight: *w,
                ..s.clone()
            })
            .collect();
        let mut settings = spec.settings.clone();
        if spec.grid.axis == GridAxis::Weights {
            settings.style_weight *= cell.style_weight_factor;
        }
        let path = self.base.join(format!("r{r}c{c}.png"));
        self.picture_at(path, self.content, styles, settings)
    }

    /// gallery: the sheet, the page's files below `gallery/`, and each pair
    /// (`gallery/images/cI-sJ.png`) as `<content>__<style>.png` too.
    fn gallery(&self, name: &str) -> Option<Delivery> {
        let spec = self.spec;
        if name == "sheet.png" {
            return self.other(self.base.join("sheet.png"));
        }
        let page = name.strip_prefix("gallery/")?;
        let Some(pair) = page.strip_prefix("images/") else {
            return self.other(self.base.join("gallery").join(page));
        };
        let (ci, si) = pair
            .strip_prefix('c')?
            .strip_suffix(".png")?
            .split_once("-s")?;
        let content = spec.contents.get(ci.parse::<usize>().ok()?)?;
        let style = spec.styles.get(si.parse::<usize>().ok()?)?;
        let styles = vec![StyleInput {
            weight: 1.0,
            ..style.clone()
        }];
        let path = self
            .base
            .join(format!("{}.png", pair_name(&content.name, &styles)));
        self.picture_at(path, &content.name, styles, spec.settings.clone())
    }
}

/// Whether `-o` names the file of a job of `kind` rather than a folder: a
/// picture file for jobs of one picture ([`is_picture_file`]), an `.mp4`
/// for videos.
pub fn is_output_file(kind: JobKind, dest: &Path) -> bool {
    if kind == JobKind::Video {
        dest.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mp4"))
    } else {
        is_picture_file(dest)
    }
}

/// The line a person reads about a video job's warping error, from the
/// `*.warping-error.json` among the files `written`; `None` without one.
pub fn warping_error_line(written: &[PathBuf]) -> Option<String> {
    let path = written.iter().find(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".warping-error.json"))
    })?;
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let mean = report.get("warping_error")?.as_f64()?;
    let pairs = report.get("pairs")?.as_array()?.len();
    let at_keyframes = report
        .get("at_keyframes")
        .and_then(serde_json::Value::as_f64)
        .map(|k| format!(", {k:.2} where segments meet"))
        .unwrap_or_default();
    Some(format!(
        "warping error {mean:.2} (0..255, mean over {pairs} frame pairs{at_keyframes}; lower flickers less)"
    ))
}

/// Whether `-o` names a picture file (by its extension) rather than a folder.
pub fn is_picture_file(dest: &Path) -> bool {
    dest.extension().is_some_and(|e| {
        PICTURE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
    })
}

/// `<content>__<style>[+<style>…]` (a doodle's name for `content`), or
/// `texture__<style>` without content;
/// characters unsafe in file names become `_`.
pub fn pair_name(content: &str, styles: &[StyleInput]) -> String {
    let content = if content.is_empty() {
        "texture"
    } else {
        content
    };
    let styles: Vec<&str> = styles.iter().map(|s| s.name.as_str()).collect();
    let raw = format!("{content}__{}", styles.join("+"));
    raw.chars()
        .map(|c| {
            if c.is_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Farm {
    /// Downloads every output of the finished `job` to where [`plan`] puts
    /// it, gallery pairs both as named files and inside the page's folder,
    /// and writes `manifest.json` beside the pictures. Returns the paths
    /// written, pictures first.
    pub async fn deliver(
        &mut self,
        job: &pb::Job,
        dest: &Path,
        animation: Option<&Path>,
    ) -> Result<Vec<PathBuf>> {
        let plan = plan(job, dest, animation)?;
        let mut written = Vec::new();
        for d in &plan {
            self.download_as_picture(&d.key, &d.path).await?;
            written.push(d.path.clone());
            if d.key.contains("/gallery/images/") {
                // The page links its own copy.
                let name = d.key.rsplit('/').next().unwrap_or_default();
                let page_copy = d.path.with_file_name("gallery").join("images").join(name);
                self.download(&d.key, &page_copy).await?;
            }
        }
        let spec = job.spec.as_ref().map(JobSpec::try_from).transpose()?;
        if spec.is_some_and(|s| is_output_file(s.kind, dest)) {
            // One result asked for by name: no manifest beside it.
            return Ok(written);
        }
        let entries: Vec<&ManifestEntry> = plan.iter().filter_map(|d| d.entry.as_ref()).collect();
        let manifest = dest.join("manifest.json");
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "job": job.job_id,
            "outputs": entries,
        }))
        .unwrap_or_default();
        write(&manifest, text.as_bytes())?;
        written.push(manifest);
        Ok(written)
    }

    /// Downloads `key` to `dest`, re-encoded when `dest` asks for another
    /// picture format than PNG.
    async fn download_as_picture(&mut self, key: &str, dest: &Path) -> Result<()> {
        let wants = dest
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !key.ends_with(".png") || wants == "png" || !PICTURE_EXTENSIONS.contains(&wants.as_str())
        {
            return self.download(key, dest).await;
        }
        let tmp = dest.with_extension("download.png");
        self.download(key, &tmp).await?;
        let img = Image::load(&tmp, u64::MAX);
        let _ = std::fs::remove_file(&tmp);
        img?.save(dest)?;
        Ok(())
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |cause| ClientError::Io { what, path, cause }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    std::fs::write(path, bytes).map_err(io("cannot write", path))
}
