//! Renders guided by region maps: semantic style transfer with a content
//! image, neural doodles without one.

use crate::error::Result;
use crate::image::{Image, fit_long_side};
use crate::model::Vgg19;
use crate::render::{ExtraTerms, Hooks, optimize, with_targets};
use crate::settings::{Settings, Style};
use crate::targets::StyleTargets;

use super::{Mask, Masks};

/// Renders `content` in the styles of `styles`, each region of
/// `masks.content` in the style of the same-coloured regions of
/// `masks.styles`. Without content (doodle mode) the output is synthesised
/// from noise at the doodle's aspect ratio (see [`doodle_settings`]).
pub fn render_guided(
    model: &Vgg19,
    content: Option<&Image>,
    styles: &[Style],
    masks: &Masks,
    settings: &Settings,
    hooks: Hooks<'_>,
) -> Result<Image> {
    masks.check(styles)?;
    let settings = &match content {
        Some(_) => settings.clone(),
        None => doodle_settings(settings, &masks.content),
    };
    let plan = settings.plan(content, Some(styles))?;
    let targets = |_: usize, dims: (usize, usize)| {
        StyleTargets::for_scale_guided(model, styles, &masks.styles, content, settings, dims)
    };
    let extra = ExtraTerms {
        guide: Some(&masks.content),
        temporal: None,
    };
    optimize(model, content, extra, &targets, settings, &plan, hooks)
}

/// [`render_guided`] against precomputed targets, one per scale, made by
/// [`StyleTargets::for_scale_guided`] (or per style with
/// [`StyleTargets::of_image_guided`] and blended): what a farm does with
/// cached targets. Without content, pass the settings through
/// [`doodle_settings`] when computing the targets' scales, as this does.
pub fn render_guided_with_targets(
    model: &Vgg19,
    content: Option<&Image>,
    content_mask: &Mask,
    targets: &[StyleTargets],
    settings: &Settings,
    hooks: Hooks<'_>,
) -> Result<Image> {
    let settings = &match content {
        Some(_) => settings.clone(),
        None => doodle_settings(settings, content_mask),
    };
    with_targets(
        model,
        content,
        Some(content_mask),
        targets,
        settings,
        None,
        hooks,
    )
}

/// The settings of a doodle render (no content image): texture synthesis at
/// the doodle's aspect ratio with the long side of `settings.size` (the last
/// of explicit `scales`), unless `texture` already sets the size, in which
/// case the doodle is stretched over it.
pub fn doodle_settings(settings: &Settings, doodle: &Mask) -> Settings {
    let mut s = settings.clone();
    if s.texture.is_none() {
        s.texture = Some(fit_long_side(
            doodle.width(),
            doodle.height(),
            settings.final_size(),
        ));
    }
    s
}
