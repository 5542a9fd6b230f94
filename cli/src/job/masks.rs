//! Region maps from the flags or the job file (semantic style transfer and
//! neural doodles, docs/doodles.md): `--content-mask PATH` (the file's
//! `content_mask`) and `--style-mask PATH` per style (the file's
//! `style_masks`), the n-th mask for the n-th style. Flags win over the file,
//! each list as a whole. A content mask without a content photo is a doodle.

use std::path::PathBuf;

use anyhow::bail;
use stylefarm_spec::JobKind;

use super::file::JobFile;
use crate::args::JobFlags;

/// The content mask and the style masks, checked against the kind and the
/// number of styles before anything is read.
pub fn resolve(
    flags: &JobFlags,
    file: &JobFile,
    kind: JobKind,
    styles: usize,
) -> anyhow::Result<(Option<PathBuf>, Vec<PathBuf>)> {
    let content = flags.content_mask.clone().or(file.content_mask.clone());
    let style_masks = if flags.style_masks.is_empty() {
        file.style_masks.clone()
    } else {
        flags.style_masks.clone()
    };
    if content.is_none() && style_masks.is_empty() {
        return Ok((None, Vec::new()));
    }
    if matches!(kind, JobKind::Grid | JobKind::Gallery) {
        bail!(
            "--content-mask and --style-mask work in single, texture and highres jobs, not in a {}: render each picture as a single job with its masks",
            kind.as_str()
        );
    }
    if content.is_none() {
        bail!(
            "--style-mask without --content-mask: give the output's region map too (or, for a doodle, only --content-mask and no content photo)"
        );
    }
    if style_masks.len() != styles {
        bail!(
            "{} --style-mask for {styles} --style: give one region map per style, in the same order (the n-th --style-mask belongs to the n-th --style)",
            style_masks.len()
        );
    }
    Ok((content, style_masks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(content: Option<&str>, masks: &[&str]) -> JobFlags {
        JobFlags {
            content_mask: content.map(PathBuf::from),
            style_masks: masks.iter().map(PathBuf::from).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn masks_pair_with_styles_and_flags_win() {
        let none = JobFile::default();
        let (c, s) = resolve(
            &flags(Some("m.png"), &["a.png", "b.png"]),
            &none,
            JobKind::Single,
            2,
        )
        .unwrap();
        assert_eq!(c, Some(PathBuf::from("m.png")));
        assert_eq!(s, vec![PathBuf::from("a.png"), PathBuf::from("b.png")]);

        let file = JobFile {
            content_mask: Some("f.png".into()),
            style_masks: vec!["fa.png".into()],
            ..Default::default()
        };
        let (c, s) = resolve(&flags(None, &[]), &file, JobKind::Single, 1).unwrap();
        assert_eq!(
            (c, s),
            (Some("f.png".into()), vec![PathBuf::from("fa.png")])
        );
        assert_eq!(
            resolve(&flags(None, &[]), &none, JobKind::Grid, 2).unwrap(),
            (None, Vec::new())
        );
    }

    #[test]
    fn a_count_mismatch_or_a_grid_is_refused_in_flag_terms() {
        let none = JobFile::default();
        let e = resolve(&flags(Some("m.png"), &["a.png"]), &none, JobKind::Single, 2).unwrap_err();
        assert!(
            e.to_string().contains("1 --style-mask for 2 --style"),
            "{e}"
        );
        let e = resolve(&flags(None, &["a.png"]), &none, JobKind::Single, 1).unwrap_err();
        assert!(e.to_string().contains("without --content-mask"), "{e}");
        let e = resolve(
            &flags(Some("m.png"), &["a.png"]),
            &none,
            JobKind::Gallery,
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not in a gallery"), "{e}");
    }
}
