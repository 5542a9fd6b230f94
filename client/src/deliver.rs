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
    let file = is_picture_file(dest);
    let one_picture = matches!(
        spec.kind,
        JobKind::Single | JobKind::Texture | JobKind::Highres
    );
    if file && !one_picture {
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
        // A doodle's pictures are named after the doodle.
        let content = spec
            .content
            .as_ref()
            .or(spec.content_mask.as_ref())
            .map_or("", |c| c.name.as_str());
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
        if is_picture_file(dest) {
            // One picture asked for by name: nothing else beside it.
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
