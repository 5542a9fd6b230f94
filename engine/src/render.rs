//! A whole render: coarse-to-fine scales, each an optimisation of the image
//! against content features and blended style Grams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::colors::{OriginalColors, transfer_luminance};
use crate::error::{EngineError, Result};
use crate::guide::Mask;
use crate::image::Image;
use crate::model::Vgg19;
use crate::objective::{Losses, Objective, Terms};
use crate::optim::State;
use crate::settings::{Init, Plan, Settings, Style};
use crate::targets::StyleTargets;
use crate::tiling;
use crate::video::Temporal;

/// Where a render stands, reported after every iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// 0-based index of the current scale.
    pub scale: usize,
    pub scales: usize,
    pub width: usize,
    pub height: usize,
    /// 1-based iteration within this scale.
    pub iteration: usize,
    pub iterations: usize,
    pub losses: Losses,
    pub elapsed_seconds: f64,
    /// Tiles each evaluation visits at this scale (1 = untiled).
    pub tiles: usize,
    /// Wall time of this iteration's evaluation and step.
    pub iteration_seconds: f64,
}

/// A flag another thread sets to stop a render at its next iteration.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Receives a snapshot of the image and where the render stands.
pub type SnapshotHook<'a> = &'a mut dyn FnMut(&Progress, &Image);

/// Callbacks of a running render. All optional.
#[derive(Default)]
pub struct Hooks<'a> {
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
    /// Every `save_every` iterations and at the end of each scale.
    pub snapshot: Option<SnapshotHook<'a>>,
    pub cancel: Option<CancelToken>,
}

/// Renders `content` (None in texture mode) in the blended style of `styles`.
pub fn render(
    model: &Vgg19,
    content: Option<&Image>,
    styles: &[Style],
    settings: &Settings,
    hooks: Hooks<'_>,
) -> Result<Image> {
    let plan = settings.plan(content, Some(styles))?;
    // One scale's targets at a time: large styles take time, and progress shows it.
    let targets = |_: usize, dims: (usize, usize)| {
        StyleTargets::for_scale(model, styles, content, settings, dims)
    };
    optimize(model, content, None, &targets, settings, &plan, None, hooks)
}

/// Renders against precomputed style targets, one per scale of
/// [`Settings::scale_dims`] (see [`StyleTargets::for_scale`]): what a farm
/// does with targets it computed once and shares between tasks.
pub fn render_with_targets(
    model: &Vgg19,
    content: Option<&Image>,
    targets: &[StyleTargets],
    settings: &Settings,
    hooks: Hooks<'_>,
) -> Result<Image> {
    with_targets(model, content, None, targets, settings, None, hooks)
}

/// [`render_with_targets`], guided by the output's region map when given
/// (semantic style transfer, see `guide`), with the temporal term of a
/// video frame added at the output scale when given (see [`crate::video`]).
pub(crate) fn with_targets(
    model: &Vgg19,
    content: Option<&Image>,
    guide: Option<&Mask>,
    targets: &[StyleTargets],
    settings: &Settings,
    temporal: Option<&Temporal<'_>>,
    hooks: Hooks<'_>,
) -> Result<Image> {
    let plan = settings.plan(content, None)?;
    if targets.len() != plan.dims.len() {
        return Err(EngineError::setting(
            "style targets",
            format!(
                "{} given for {} scales; compute one per scale",
                targets.len(),
                plan.dims.len()
            ),
        ));
    }
    for t in targets {
        for (l, _) in &plan.style_layers {
            if !t.grams.iter().any(|(tl, _)| tl == l) {
                return Err(EngineError::setting(
                    "style targets",
                    format!("no Gram matrix for style layer {}", l.name()),
                ));
            }
        }
    }
    optimize(
        model,
        content,
        guide,
        &|scale, _| Ok(targets[scale].clone()),
        settings,
        &plan,
        temporal,
        hooks,
    )
}

/// The coarse-to-fine optimisation; `guide` is the output's region map for
/// semantic style transfer (see `guide`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn optimize(
    model: &Vgg19,
    content: Option<&Image>,
    guide: Option<&Mask>,
    targets: &dyn Fn(usize, (usize, usize)) -> Result<StyleTargets>,
    settings: &Settings,
    plan: &Plan,
    temporal: Option<&Temporal<'_>>,
    mut hooks: Hooks<'_>,
) -> Result<Image> {
    let start = Instant::now();
    let pre = *model.preprocess();
    let (device, dtype) = (model.device().clone(), model.dtype());
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut current: Option<Image> = None;

    for (scale, &(w, h)) in plan.dims.iter().enumerate() {
        let targets = &targets(scale, (w, h))?;
        let content_x = match content {
            Some(c) => Some(c.resize(w, h).to_input(&pre, &device, dtype)?),
            None => None,
        };
        let content_layers: Vec<_> = plan
            .content_layers
            .iter()
            .map(|&(l, lw)| (l, lw * settings.content_weight))
            .collect();
        let style_layers_w: Vec<_> = plan
            .style_layers
            .iter()
            .map(|&(l, lw)| (l, lw * settings.style_weight))
            .collect();
        let deepest = plan
            .content_layers
            .iter()
            .chain(&plan.style_layers)
            .map(|(l, _)| l.unit)
            .max()
            .unwrap_or(0);
        let (tile, optimizer) = tiling::plan_memory(settings, model, (w, h), deepest)?;
        let objective = Objective::guided(
            model,
            Terms {
                pooling: settings.pooling,
                content_image: content_x.as_ref(),
                content_layers: if settings.content_weight > 0.0 {
                    &content_layers
                } else {
                    &[]
                },
                style: targets,
                style_layers: &style_layers_w,
                tv_weight: settings.tv_weight,
                normalize_gradients: settings.normalize_gradients,
                tileable: settings.tileable,
                tile,
            },
            guide,
            (w, h),
        )?;
        // The flow and its weights exist at the output size only: the
        // temporal term joins at the last scale.
        let objective = match temporal {
            Some(t) if scale + 1 == plan.dims.len() => {
                objective.with_temporal(t.target((w, h), &pre, &device, dtype)?)?
            }
            _ => objective,
        };

        let mut x = match (&current, &settings.init) {
            (Some(prev), _) => prev.resize(w, h).to_input(&pre, &device, dtype)?,
            (None, Init::Noise) => noise(&mut rng, w, h)?.to_dtype(dtype)?.to_device(&device)?,
            (None, Init::Content) => match &content_x {
                Some(x) => x.clone(),
                None => {
                    return Err(EngineError::setting(
                        "init",
                        "'content' needs a content image",
                    ));
                }
            },
            (None, Init::Image(img)) => img.resize(w, h).to_input(&pre, &device, dtype)?,
        };

        let mut state = State::new(optimizer);
        for it in 1..=settings.iterations {
            if hooks.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                return Err(EngineError::Cancelled);
            }
            let t0 = Instant::now();
            let (losses, grad) = objective.evaluate(&x)?;
            if !losses.total.is_finite() {
                return Err(EngineError::setting(
                    "weights",
                    format!(
                        "the loss became {} at iteration {it}; lower the learning rate or the weights",
                        losses.total
                    ),
                ));
            }
            x = state.step(&x, &grad)?;
            let progress = Progress {
                scale,
                scales: plan.dims.len(),
                width: w,
                height: h,
                iteration: it,
                iterations: settings.iterations,
                losses,
                elapsed_seconds: start.elapsed().as_secs_f64(),
                tiles: objective.tiles(),
                iteration_seconds: t0.elapsed().as_secs_f64(),
            };
            if let Some(p) = hooks.progress.as_mut() {
                p(&progress);
            }
            let due = settings.save_every > 0 && it.is_multiple_of(settings.save_every);
            if let Some(s) = hooks.snapshot.as_mut()
                && (due || it == settings.iterations)
            {
                s(&progress, &Image::from_input(&x, &pre)?);
            }
        }
        current = Some(Image::from_input(&x, &pre)?);
    }

    let out = current.ok_or_else(|| EngineError::setting("scales", "no scale to render"))?;
    Ok(match (settings.original_colors, content) {
        (OriginalColors::Luminance, Some(c)) => transfer_luminance(&out, c),
        _ => out,
    })
}

/// `(3, h, w)` of N(0, 0.001²): neural-style's random init, seeded.
fn noise(rng: &mut ChaCha8Rng, w: usize, h: usize) -> Result<Tensor> {
    use rand::Rng;
    let n = 3 * w * h;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        // Box–Muller: two uniforms give two independent normals.
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        v.push((0.001 * r * t.cos()) as f32);
        v.push((0.001 * r * t.sin()) as f32);
    }
    v.truncate(n);
    Ok(Tensor::from_vec(v, (3, h, w), &candle_core::Device::Cpu)?)
}
