//! Which pictures a job uses: the positionals (`[KIND] CONTENT`), styles as
//! `PATH[:WEIGHT]`, and folders standing for the pictures in them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use stylefarm_spec::JobKind;

/// Extensions taken from a folder.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"];

/// The job kind and the content photo given as positionals: `[KIND] CONTENT`.
pub fn positionals(inputs: &[String]) -> anyhow::Result<(Option<JobKind>, Option<PathBuf>)> {
    let kind = |s: &str| s.parse::<JobKind>().ok();
    match inputs {
        [] => Ok((None, None)),
        [one] => Ok(match kind(one) {
            Some(k) => (Some(k), None),
            None => (None, Some(PathBuf::from(one))),
        }),
        [k, content] => match kind(k) {
            Some(k) => Ok((Some(k), Some(PathBuf::from(content)))),
            None => bail!(
                "unknown job kind '{k}': use one of {} (or give only the content photo)",
                JobKind::NAMES.join(", ")
            ),
        },
        _ => bail!("give at most a job kind and one content photo"),
    }
}

/// `PATH` or `PATH:WEIGHT` (the weight is whatever follows the last ':' if
/// it parses as a number).
pub fn parse_style(s: &str) -> anyhow::Result<(PathBuf, f64)> {
    if let Some((path, w)) = s.rsplit_once(':')
        && let Ok(weight) = w.parse::<f64>()
    {
        if path.is_empty() {
            bail!("--style {s}: the path is empty");
        }
        return Ok((PathBuf::from(path), weight));
    }
    if s.is_empty() {
        bail!("--style needs a path");
    }
    Ok((PathBuf::from(s), 1.0))
}

/// The styles with their weights; with `folders`, a folder stands for each
/// picture in it, weight 1.
pub fn styles(given: &[String], folders: bool) -> anyhow::Result<Vec<(PathBuf, f64)>> {
    let mut out = Vec::new();
    for s in given {
        let (path, weight) = parse_style(s)?;
        if folders && path.is_dir() {
            out.extend(pictures_in(&path)?.into_iter().map(|p| (p, 1.0)));
        } else {
            out.push((path, weight));
        }
    }
    Ok(out)
}

/// The files given, each folder standing for the pictures in it.
pub fn expand_folders(given: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in given {
        if p.is_dir() {
            out.extend(pictures_in(p)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The pictures in `dir`, sorted by name.
fn pictures_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
                })
        })
        .collect();
    out.sort();
    if out.is_empty() {
        bail!(
            "{} holds no pictures ({})",
            dir.display(),
            IMAGE_EXTENSIONS.join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_parse() {
        assert_eq!(
            parse_style("a/b.jpg:0.3").unwrap(),
            (PathBuf::from("a/b.jpg"), 0.3)
        );
        assert_eq!(
            parse_style("a/b.jpg").unwrap(),
            (PathBuf::from("a/b.jpg"), 1.0)
        );
        assert_eq!(
            parse_style("c:/x.jpg").unwrap(),
            (PathBuf::from("c:/x.jpg"), 1.0)
        );
        assert!(parse_style(":0.5").is_err());
    }

    #[test]
    fn positionals_are_kind_then_content() {
        assert_eq!(
            positionals(&["grid".into(), "p.jpg".into()]).unwrap(),
            (Some(JobKind::Grid), Some("p.jpg".into()))
        );
        assert_eq!(
            positionals(&["p.jpg".into()]).unwrap(),
            (None, Some("p.jpg".into()))
        );
        let e = positionals(&["grdi".into(), "p.jpg".into()]).unwrap_err();
        assert!(e.to_string().contains("unknown job kind"), "{e}");
    }
}
