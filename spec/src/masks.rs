//! Region maps in a job (semantic style transfer and neural doodles,
//! docs/doodles.md): the content mask ([`JobSpec::content_mask`]) and one
//! mask per style ([`StyleInput::mask`](crate::StyleInput::mask)), their
//! shape rules, and the size of a doodle.
//!
//! A job with a content mask is *semantic*: every style carries its own
//! mask, in the styles' order. Without a content photo it is a *doodle*:
//! the output is synthesised from noise over the content mask's regions, at
//! the doodle's aspect ratio ([`JobSpec::doodle_texture`]).

use crate::error::{Check, InvalidSpec};
use crate::geometry::fit_long_side;
use crate::job::{JobSpec, label};
use crate::names::JobKind;
use crate::render::{Scales, check_input_key};

impl JobSpec {
    /// Whether the job renders guided by region maps.
    pub fn is_guided(&self) -> bool {
        self.content_mask.is_some()
    }

    /// Whether the job is a doodle: a content mask and no content photo.
    pub fn is_doodle(&self) -> bool {
        self.content.is_none() && self.content_mask.is_some()
    }

    /// The texture size a doodle renders at when the job gives none: the
    /// doodle's aspect ratio with the long side of the output (`size`, or
    /// the last explicit scale), as the engine's `guide::doodle_settings`
    /// computes it. `None` when the job is no doodle, already has a texture
    /// size, or the doodle's size is unknown.
    pub fn doodle_texture(&self) -> Option<(u32, u32)> {
        if !self.is_doodle() || self.settings.texture.is_some() {
            return None;
        }
        let (w, h) = self.content_mask.as_ref()?.size?;
        let long = match &self.settings.scales {
            Scales::Explicit(s) => s.last().copied().unwrap_or(self.settings.size),
            _ => self.settings.size,
        };
        Some(fit_long_side(w, h, long))
    }

    /// Gives a doodle its texture size ([`Self::doodle_texture`]), so that
    /// planning (scales, cached targets, splitting into tiles) treats it as
    /// the texture it renders as. Returns whether anything changed.
    pub fn size_doodle(&mut self) -> bool {
        match self.doodle_texture() {
            Some(t) => {
                self.settings.texture = Some(t);
                true
            }
            None => false,
        }
    }

    /// The mask rules: style masks only with a content mask, then one per
    /// style; masks only in kinds that render one picture (grids and
    /// galleries are refused); a doodle's size known.
    pub(crate) fn validate_masks(&self) -> Check {
        let Some(mask) = &self.content_mask else {
            if let Some(i) = self.styles.iter().position(|s| s.mask.is_some()) {
                return Err(InvalidSpec::new(
                    format!("styles[{i}].mask_key"),
                    "a style mask without a content mask",
                    "give the output's region map too (--content-mask), or drop the style masks",
                ));
            }
            return Ok(());
        };
        if matches!(self.kind, JobKind::Grid | JobKind::Gallery) {
            return Err(InvalidSpec::new(
                "content_mask_key",
                format!("region maps in a {} job", self.kind.as_str()),
                "masks work in single, texture and highres jobs: submit each picture as a single job with its masks",
            ));
        }
        check_input_key("content_mask_key", &mask.key)?;
        label("content_mask_name", &mask.name)?;
        for (i, style) in self.styles.iter().enumerate() {
            match &style.mask {
                Some(key) => check_input_key(&format!("styles[{i}].mask_key"), key)?,
                None => {
                    return Err(InvalidSpec::new(
                        format!("styles[{i}].mask_key"),
                        "empty while content_mask_key is set",
                        "give one region map per style, in the styles' order (--style-mask after each --style)",
                    ));
                }
            }
        }
        if self.is_doodle() && self.settings.texture.is_none() && mask.size.is_none() {
            return Err(InvalidSpec::new(
                "content_mask_width",
                "0 in a doodle without a texture size",
                "send the doodle's width and height (the CLI does), or a texture size",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{JobKind, JobSpec, Picture, StyleInput};

    fn picture(key: &str, size: Option<(u32, u32)>) -> Picture {
        Picture {
            key: key.into(),
            name: String::new(),
            size,
        }
    }

    fn semantic(kind: JobKind) -> JobSpec {
        let mut s = JobSpec::new(kind);
        s.content = Some(picture("inputs/c.png", Some((64, 48))));
        s.content_mask = Some(picture("inputs/cm.png", Some((32, 24))));
        s.styles = vec![StyleInput {
            key: "inputs/s.png".into(),
            weight: 1.0,
            name: String::new(),
            mask: Some("inputs/sm.png".into()),
        }];
        s.settings.size = 64;
        s.grid.steps = 3;
        s
    }

    #[test]
    fn masks_come_one_per_style_and_only_with_a_content_mask() {
        let ok = semantic(JobKind::Single);
        assert_eq!(ok.validate(), Ok(()));
        assert!(ok.input_keys().contains(&"inputs/cm.png"));
        assert!(ok.input_keys().contains(&"inputs/sm.png"));

        let mut missing = ok.clone();
        missing.styles[0].mask = None;
        let e = missing.validate().unwrap_err();
        assert_eq!(e.field, "styles[0].mask_key");
        assert!(e.hint.contains("one region map per style"), "{e}");

        let mut lonely = ok.clone();
        lonely.content_mask = None;
        let e = lonely.validate().unwrap_err();
        assert_eq!(e.field, "styles[0].mask_key");
        assert!(e.hint.contains("--content-mask"), "{e}");

        let mut bad_key = ok.clone();
        bad_key.styles[0].mask = Some("../etc/passwd".into());
        assert_eq!(bad_key.validate().unwrap_err().field, "styles[0].mask_key");
    }

    #[test]
    fn grids_and_galleries_refuse_masks() {
        for kind in [JobKind::Grid, JobKind::Gallery] {
            let mut s = semantic(kind);
            if kind == JobKind::Gallery {
                s.contents = vec![s.content.take().unwrap()];
            } else {
                s.styles.push(s.styles[0].clone());
            }
            let e = s.validate().unwrap_err();
            assert_eq!(e.field, "content_mask_key", "{kind:?}: {e}");
            assert!(e.hint.contains("single job"), "{e}");
        }
        let mut h = semantic(JobKind::Highres);
        h.tiles = Some(crate::FarmTiles {
            tile: 64,
            overlap: 16,
        });
        assert_eq!(h.validate(), Ok(()));
    }

    #[test]
    fn a_doodle_is_sized_by_its_mask() {
        let mut d = semantic(JobKind::Single);
        d.content = None;
        assert!(d.is_doodle());
        assert_eq!(d.validate(), Ok(()));
        // 32×24 at size 64: 64×48.
        assert_eq!(d.doodle_texture(), Some((64, 48)));
        d.settings.size = 48;
        d.settings.scales = crate::Scales::Explicit(vec![32, 48]);
        assert_eq!(d.doodle_texture(), Some((48, 36)));
        assert!(d.size_doodle());
        assert_eq!(d.settings.texture, Some((48, 36)));
        assert_eq!(d.doodle_texture(), None);
        assert_eq!(d.validate(), Ok(()));

        let mut unknown = semantic(JobKind::Single);
        unknown.content = None;
        unknown.content_mask.as_mut().unwrap().size = None;
        assert_eq!(unknown.validate().unwrap_err().field, "content_mask_width");
        // A doodle too thin for its size is refused like a thin photo.
        let mut thin = semantic(JobKind::Single);
        thin.content = None;
        thin.content_mask.as_mut().unwrap().size = Some((1200, 24));
        assert_eq!(thin.validate().unwrap_err().field, "settings.size");
        // Init from content needs a content photo.
        let mut init = semantic(JobKind::Single);
        init.content = None;
        init.settings.init = crate::Init::Content;
        assert_eq!(init.validate().unwrap_err().field, "settings.init");
    }
}
