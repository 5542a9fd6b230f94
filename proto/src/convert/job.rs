//! `pb::JobSpec` / `pb::RenderSettings` ↔ `stylefarm_spec::{JobSpec, RenderSettings}`.

use stylefarm_spec::{
    FarmTiles, Grid, GridAxis, InvalidSpec, JobKind, JobSpec, LayerWeight, Picture, RenderSettings,
    Scales, StyleInput,
};

use stylefarm_spec::render::DEFAULT_TOL_WINDOW;

use super::video::{video_in, video_out};
use super::{nonempty, nonzero};
use crate::pb;

impl TryFrom<&pb::JobSpec> for JobSpec {
    type Error = InvalidSpec;

    /// Parses and checks the whole job ([`JobSpec::validate`]).
    fn try_from(p: &pb::JobSpec) -> Result<Self, InvalidSpec> {
        let kind: JobKind = p
            .kind
            .parse()
            .map_err(|e: stylefarm_spec::UnknownName| e.at("kind"))?;
        let settings = p.settings.as_ref().ok_or_else(|| {
            InvalidSpec::new(
                "settings",
                "missing",
                "send every render setting explicitly",
            )
        })?;
        let grid = if kind == JobKind::Grid {
            Grid {
                steps: p.steps,
                axis: match p.axis.as_str() {
                    "" => GridAxis::Styles,
                    a => a
                        .parse()
                        .map_err(|e: stylefarm_spec::UnknownName| e.at("axis"))?,
                },
            }
        } else {
            Grid::default()
        };
        let tiled = matches!(kind, JobKind::Highres | JobKind::Texture);
        let spec = JobSpec {
            name: p.name.clone(),
            kind,
            priority: p.priority,
            content: nonempty(&p.content_key).map(|key| Picture {
                key,
                name: p.content_name.clone(),
                size: (p.content_width > 0 && p.content_height > 0)
                    .then_some((p.content_width, p.content_height)),
            }),
            contents: p
                .contents
                .iter()
                .map(|c| Picture {
                    key: c.input_key.clone(),
                    name: c.name.clone(),
                    size: (c.width > 0 && c.height > 0).then_some((c.width, c.height)),
                })
                .collect(),
            styles: p.styles.iter().map(style_in).collect(),
            settings: RenderSettings::try_from(settings)?,
            grid,
            batch: (p.batch > 0).then_some(p.batch),
            tiles: (tiled && p.tile > 0).then_some(FarmTiles {
                tile: p.tile,
                overlap: p.overlap,
            }),
            content_mask: nonempty(&p.content_mask_key).map(|key| Picture {
                key,
                name: p.content_mask_name.clone(),
                size: (p.content_mask_width > 0 && p.content_mask_height > 0)
                    .then_some((p.content_mask_width, p.content_mask_height)),
            }),
            video: p.video.as_ref().map(video_in).transpose()?,
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl From<&JobSpec> for pb::JobSpec {
    fn from(s: &JobSpec) -> Self {
        let content = s.content.clone().unwrap_or_default();
        let (content_width, content_height) = content.size.unwrap_or((0, 0));
        let grid = s.kind == JobKind::Grid;
        let mask = s.content_mask.clone().unwrap_or_default();
        let (content_mask_width, content_mask_height) = mask.size.unwrap_or((0, 0));
        pb::JobSpec {
            name: s.name.clone(),
            kind: s.kind.as_str().into(),
            content_key: content.key,
            content_name: content.name,
            content_width,
            content_height,
            styles: s.styles.iter().map(style_out).collect(),
            settings: Some(pb::RenderSettings::from(&s.settings)),
            priority: s.priority,
            contents: s
                .contents
                .iter()
                .map(|c| {
                    let (width, height) = c.size.unwrap_or((0, 0));
                    pb::ContentInput {
                        input_key: c.key.clone(),
                        name: c.name.clone(),
                        width,
                        height,
                    }
                })
                .collect(),
            steps: if grid { s.grid.steps } else { 0 },
            axis: if grid {
                s.grid.axis.as_str().into()
            } else {
                String::new()
            },
            tile: s.tiles.map_or(0, |t| t.tile),
            overlap: s.tiles.map_or(0, |t| t.overlap),
            batch: s.batch.unwrap_or(0),
            content_mask_key: mask.key,
            content_mask_name: mask.name,
            content_mask_width,
            content_mask_height,
            video: s.video.as_ref().map(video_out),
        }
    }
}

/// Parses the names and shapes of the settings; their ranges are checked by
/// [`RenderSettings::validate`] (through [`JobSpec::validate`] for jobs, by
/// the engine for tasks).
impl TryFrom<&pb::RenderSettings> for RenderSettings {
    type Error = InvalidSpec;

    fn try_from(s: &pb::RenderSettings) -> Result<Self, InvalidSpec> {
        let name = |field: &str, e: stylefarm_spec::UnknownName| e.at(format!("settings.{field}"));
        if !s.scales.is_empty() && s.multiscale {
            return Err(InvalidSpec::new(
                "settings.multiscale",
                "true together with explicit scales",
                "either list the scales or ask for automatic multiscale, not both",
            ));
        }
        Ok(RenderSettings {
            size: s.size,
            iterations: s.iterations,
            seed: s.seed,
            optimizer: s.optimizer.parse().map_err(|e| name("optimizer", e))?,
            learning_rate: s.learning_rate,
            lbfgs_history: s.lbfgs_history,
            content_weight: s.content_weight,
            style_weight: s.style_weight,
            tv_weight: s.tv_weight,
            content_layers: s.content_layers.iter().map(layer_in).collect(),
            style_layers: s.style_layers.iter().map(layer_in).collect(),
            init: s.init.parse().map_err(|e| name("init", e))?,
            init_key: nonempty(&s.init_input_key),
            pooling: s.pooling.parse().map_err(|e| name("pooling", e))?,
            style_scale: s.style_scale,
            original_colors: s
                .original_colors
                .parse()
                .map_err(|e| name("original_colors", e))?,
            scales: if !s.scales.is_empty() {
                Scales::Explicit(s.scales.clone())
            } else if s.multiscale {
                Scales::Auto
            } else {
                Scales::Single
            },
            save_every: s.save_every,
            animation: s.animation,
            texture: (s.texture_width > 0 || s.texture_height > 0)
                .then_some((s.texture_width, s.texture_height)),
            normalize_gradients: s.normalize_gradients,
            model: s.model.clone(),
            tileable: s.tileable,
            tile: nonzero(s.tile),
            max_memory: nonzero(s.max_memory),
            precision: match s.precision.as_str() {
                "" => None,
                p => Some(p.parse().map_err(|e| name("precision", e))?),
            },
            tol_loss_relative: (s.tol_loss_relative != 0.0).then_some(s.tol_loss_relative),
            tol_window: if s.tol_window == 0 {
                DEFAULT_TOL_WINDOW
            } else {
                s.tol_window
            },
        })
    }
}

impl From<&RenderSettings> for pb::RenderSettings {
    fn from(s: &RenderSettings) -> Self {
        let (scales, multiscale) = match &s.scales {
            Scales::Single => (Vec::new(), false),
            Scales::Explicit(v) => (v.clone(), false),
            Scales::Auto => (Vec::new(), true),
        };
        let (texture_width, texture_height) = s.texture.unwrap_or((0, 0));
        pb::RenderSettings {
            size: s.size,
            iterations: s.iterations,
            seed: s.seed,
            optimizer: s.optimizer.as_str().into(),
            learning_rate: s.learning_rate,
            lbfgs_history: s.lbfgs_history,
            content_weight: s.content_weight,
            style_weight: s.style_weight,
            tv_weight: s.tv_weight,
            content_layers: s.content_layers.iter().map(layer_out).collect(),
            style_layers: s.style_layers.iter().map(layer_out).collect(),
            init: s.init.as_str().into(),
            init_input_key: s.init_key.clone().unwrap_or_default(),
            pooling: s.pooling.as_str().into(),
            style_scale: s.style_scale,
            original_colors: s.original_colors.as_str().into(),
            scales,
            multiscale,
            save_every: s.save_every,
            animation: s.animation,
            texture_width,
            texture_height,
            normalize_gradients: s.normalize_gradients,
            model: s.model.clone(),
            tileable: s.tileable,
            tile: s.tile.unwrap_or(0),
            max_memory: s.max_memory.unwrap_or(0),
            precision: s.precision.map(|p| p.as_str().into()).unwrap_or_default(),
            tol_loss_relative: s.tol_loss_relative.unwrap_or(0.0),
            tol_window: s.tol_window,
        }
    }
}

pub(super) fn style_in(s: &pb::StyleInput) -> StyleInput {
    StyleInput {
        key: s.input_key.clone(),
        weight: s.weight,
        name: s.name.clone(),
        mask: nonempty(&s.mask_key),
    }
}

pub(super) fn style_out(s: &StyleInput) -> pb::StyleInput {
    pb::StyleInput {
        input_key: s.key.clone(),
        weight: s.weight,
        name: s.name.clone(),
        mask_key: s.mask.clone().unwrap_or_default(),
    }
}

pub(super) fn layer_in(l: &pb::LayerWeight) -> LayerWeight {
    LayerWeight {
        layer: l.layer.clone(),
        weight: l.weight,
    }
}

pub(super) fn layer_out(l: &LayerWeight) -> pb::LayerWeight {
    pb::LayerWeight {
        layer: l.layer.clone(),
        weight: l.weight,
    }
}
