//! A job's region maps checked before anything is uploaded (semantic style
//! transfer and doodles, docs/doodles.md): one style mask per style, every
//! mask readable as a region map, and every region of the content mask in
//! the mask of a style of weight > 0 — the checks the workers' engine makes,
//! made here so that a bad mask is refused at once, named by its path.

use stylefarm_engine::{EngineError, Mask, Masks};
use stylefarm_spec::InvalidSpec;

use crate::error::Result;
use crate::submit::LocalJob;

impl LocalJob {
    /// Style masks only with a content mask, and then one per style (the
    /// n-th mask belongs to the n-th style). Reads nothing.
    pub(crate) fn check_mask_count(&self) -> Result<()> {
        let (masks, styles) = (self.style_masks.len(), self.styles.len());
        if self.content_mask.is_none() && masks > 0 {
            return Err(InvalidSpec::new(
                "style_masks",
                format!("{masks} style masks without a content mask"),
                "give the output's region map too (--content-mask), or drop the style masks",
            )
            .into());
        }
        if self.content_mask.is_some() && masks != styles {
            return Err(InvalidSpec::new(
                "style_masks",
                format!("{masks} style masks for {styles} styles"),
                "give one --style-mask per --style, in the same order (the n-th mask belongs to the n-th style)",
            )
            .into());
        }
        Ok(())
    }

    /// Reads the job's masks and checks them as the engine will: each a
    /// region map (at most `max_pixels`), every content region in the mask
    /// of a style of weight > 0. Returns the content mask's `(width, height)`
    /// in pixels (a doodle's size follows from it); `None` without masks.
    pub fn check_masks(&self, max_pixels: u64) -> Result<Option<(u32, u32)>> {
        self.check_mask_count()?;
        let Some(content_path) = &self.content_mask else {
            return Ok(None);
        };
        let content = Mask::load(content_path, max_pixels)?;
        let styles = self
            .style_masks
            .iter()
            .map(|p| Mask::load(p, max_pixels))
            .collect::<Result<Vec<_>, _>>()?;
        let size = (content.width() as u32, content.height() as u32);
        let weights: Vec<f64> = self.spec.styles.iter().map(|s| s.weight).collect();
        // Name the content mask by its file, as the decoding errors do.
        Masks { content, styles }
            .check_weights(&weights)
            .map_err(|e| match e {
                EngineError::BadMask { reason, .. } => EngineError::BadMask {
                    name: content_path.display().to_string(),
                    reason,
                },
                other => other,
            })?;
        Ok(Some(size))
    }
}
