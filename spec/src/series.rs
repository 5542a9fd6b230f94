//! Series inputs: a scheduled job whose content photos are chosen at each
//! fire from its owner's files (`files/<owner>/<prefix>…` in storage), so
//! an art series picks up new photos (docs/schedules.md).

use crate::error::{Check, InvalidSpec, truncate};
use crate::job::{JobSpec, Picture};
use crate::limits::MAX_KEY_LEN;
use crate::names::JobKind;

/// The placeholders a prefix may hold, filled in at each fire on the
/// schedule's wall clock.
pub const PLACEHOLDERS: [&str; 3] = ["{date}", "{time}", "{schedule}"];

/// The key that stands in for the photos a fire will choose, when a
/// template is checked before any fire.
pub const STAND_IN_KEY: &str =
    "inputs/0000000000000000000000000000000000000000000000000000000000000000.png";

/// Where a series template's content photos come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeriesInputs {
    /// A path under the owner's files, e.g. `photos/{date}/`; a folder when
    /// it ends in `/`, else a prefix of file names.
    pub prefix: String,
    /// Only the newest N files (by upload time); 0 = all of them for a
    /// gallery, the newest one for a single job.
    pub newest: u32,
}

impl SeriesInputs {
    /// Refuses a prefix that is no usable path, a count the kind cannot
    /// use, and a template that is not a single or gallery job or that
    /// names its own content photos.
    pub fn check(&self, template: &JobSpec) -> Check {
        let bad = |field: &str, problem: String, hint: &str| {
            Err(InvalidSpec::new(format!("inputs.{field}"), problem, hint))
        };
        let prefix = self.prefix.as_str();
        let path_hint = "give a path under your files, e.g. \"photos/{date}/\" (letters, digits, . _ / - and {date} {time} {schedule})";
        if prefix.is_empty() {
            return bad("prefix", "is empty".into(), path_hint);
        }
        if prefix.len() > MAX_KEY_LEN / 2 {
            return bad(
                "prefix",
                format!(
                    "is {} bytes long (at most {})",
                    prefix.len(),
                    MAX_KEY_LEN / 2
                ),
                path_hint,
            );
        }
        let mut plain = prefix.to_owned();
        for p in PLACEHOLDERS {
            plain = plain.replace(p, "x");
        }
        if let Some(c) = plain
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._/-".contains(*c)))
        {
            return bad(
                "prefix",
                format!("{:?} holds {c:?}", truncate(prefix)),
                path_hint,
            );
        }
        if plain.starts_with('/') || plain.split('/').any(|part| part == "." || part == "..") {
            return bad(
                "prefix",
                format!("{:?} is not a relative path", truncate(prefix)),
                path_hint,
            );
        }
        match template.kind {
            JobKind::Single if self.newest > 1 => bad(
                "newest",
                format!("{} photos for a single job, which renders one", self.newest),
                "use kind = \"gallery\" to render several photos per run, or newest = 1",
            ),
            JobKind::Single if template.content_mask.is_some() => bad(
                "prefix",
                "a region map is drawn for one photo, not for photos chosen at each fire".into(),
                "drop content_mask and style_masks, or name the photo in the job file",
            ),
            JobKind::Single | JobKind::Gallery => {
                if template.content.is_some() || !template.contents.is_empty() {
                    return bad(
                        "prefix",
                        "the job file names its own content photos as well".into(),
                        "drop content/contents from the job file: the photos come from [series] inputs",
                    );
                }
                Ok(())
            }
            other => bad(
                "prefix",
                format!("a {} job has no content photos to choose", other.as_str()),
                "series inputs work with single and gallery jobs",
            ),
        }
    }

    /// The prefix of one fire: `{date}`, `{time}`, `{schedule}` filled in.
    pub fn expand(&self, schedule: &str, date: &str, time: &str) -> String {
        self.prefix
            .replace("{date}", date)
            .replace("{time}", time)
            .replace("{schedule}", schedule)
    }

    /// How many of the newest files a fire takes (`None` = all).
    pub fn take(&self, kind: JobKind) -> Option<usize> {
        match (kind, self.newest) {
            (JobKind::Single, _) => Some(1),
            (_, 0) => None,
            (_, n) => Some(n as usize),
        }
    }

    /// `template` with the photos a fire chose: the content of a single job
    /// (the first), the contents of a gallery.
    pub fn fill(template: &JobSpec, mut photos: Vec<Picture>) -> JobSpec {
        let mut spec = template.clone();
        if spec.kind == JobKind::Gallery {
            spec.contents = photos;
        } else if !photos.is_empty() {
            spec.content = Some(photos.swap_remove(0));
        }
        spec
    }

    /// `template` with a stand-in photo of unknown size, to check it before
    /// any fire has chosen its photos.
    pub fn stand_in(template: &JobSpec) -> JobSpec {
        Self::fill(
            template,
            vec![Picture {
                key: STAND_IN_KEY.into(),
                name: "series input".into(),
                size: None,
            }],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(prefix: &str, newest: u32) -> SeriesInputs {
        SeriesInputs {
            prefix: prefix.into(),
            newest,
        }
    }

    #[test]
    fn prefixes_are_checked() {
        let gallery = JobSpec::new(JobKind::Gallery);
        assert!(inputs("photos/{date}/", 0).check(&gallery).is_ok());
        assert!(
            inputs("photos/{schedule}-{time}", 3)
                .check(&gallery)
                .is_ok()
        );
        for bad in [
            "",
            "/photos",
            "photos/../x",
            "photos/a b/",
            "photos/{week}/",
        ] {
            let e = inputs(bad, 0).check(&gallery).unwrap_err();
            assert_eq!(e.field, "inputs.prefix", "{bad}");
        }
    }

    #[test]
    fn kinds_and_counts_are_checked() {
        let single = JobSpec::new(JobKind::Single);
        assert!(inputs("p/", 1).check(&single).is_ok());
        assert_eq!(
            inputs("p/", 2).check(&single).unwrap_err().field,
            "inputs.newest"
        );
        let grid = JobSpec::new(JobKind::Grid);
        assert!(
            inputs("p/", 0)
                .check(&grid)
                .unwrap_err()
                .problem
                .contains("grid")
        );
        let mut named = JobSpec::new(JobKind::Gallery);
        named.contents.push(Picture::default());
        assert!(inputs("p/", 0).check(&named).is_err());
    }

    #[test]
    fn fires_expand_and_fill() {
        let i = inputs("photos/{date}/{schedule}/", 2);
        assert_eq!(
            i.expand("am", "2026-12-01", "06-00"),
            "photos/2026-12-01/am/"
        );
        assert_eq!(i.take(JobKind::Gallery), Some(2));
        assert_eq!(inputs("p/", 0).take(JobKind::Gallery), None);
        assert_eq!(inputs("p/", 0).take(JobKind::Single), Some(1));
        let one = SeriesInputs::stand_in(&JobSpec::new(JobKind::Single));
        assert_eq!(one.content.unwrap().key, STAND_IN_KEY);
        let many = SeriesInputs::stand_in(&JobSpec::new(JobKind::Gallery));
        assert_eq!(many.contents.len(), 1);
    }
}
