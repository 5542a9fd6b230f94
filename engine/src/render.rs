//! A whole render: coarse-to-fine scales, each an optimisation of the image
//! against content features and blended style Grams, run for
//! `Settings::iterations` or until the loss stops improving
//! (`Settings::tol_loss_relative`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::colors::{OriginalColors, transfer_luminance};
use crate::error::{EngineError, Evaluating, Result};
use crate::guide::Mask;
use crate::image::Image;
use crate::model::{Preprocess, Vgg19};
use crate::objective::{LossSums, Losses, Objective, Terms};
use crate::optim::{Optimizer, State};
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
    /// This is the scale's last iteration because the loss stopped improving
    /// ([`Settings::tol_loss_relative`]); `iteration` is where it stopped.
    pub converged: bool,
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
    optimize(
        model,
        content,
        ExtraTerms::default(),
        &targets,
        settings,
        &plan,
        hooks,
    )
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
    check_targets(&plan, targets)?;
    optimize(
        model,
        content,
        ExtraTerms { guide, temporal },
        &|scale, _| Ok(targets[scale].clone()),
        settings,
        &plan,
        hooks,
    )
}

/// Checks precomputed style targets against a render's plan: one per
/// scale, each with a Gram matrix for every style layer.
pub(crate) fn check_targets(plan: &Plan, targets: &[StyleTargets]) -> Result<()> {
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
    Ok(())
}

/// What a render optimises beyond content and style: the output's region
/// map for semantic style transfer (see `guide`) and the temporal term of a
/// video frame (see `video`).
#[derive(Clone, Copy, Default)]
pub(crate) struct ExtraTerms<'a> {
    pub(crate) guide: Option<&'a Mask>,
    pub(crate) temporal: Option<&'a Temporal<'a>>,
}

/// The coarse-to-fine optimisation.
pub(crate) fn optimize(
    model: &Vgg19,
    content: Option<&Image>,
    extra: ExtraTerms<'_>,
    targets: &dyn Fn(usize, (usize, usize)) -> Result<StyleTargets>,
    settings: &Settings,
    plan: &Plan,
    mut hooks: Hooks<'_>,
) -> Result<Image> {
    let start = Instant::now();
    // The optimisation runs at the render's precision; style targets come
    // from the model as given (`targets` holds it).
    let model = &model.with_precision(settings.precision_on(model.device()))?;
    let pre = *model.preprocess();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut current: Option<Image> = None;

    for (scale, &(w, h)) in plan.dims.iter().enumerate() {
        let targets = &targets(scale, (w, h))?;
        let picture = Picture {
            content,
            extra,
            targets,
            settings,
            plan,
        };
        let run = picture.at_scale(model, scale, current.as_ref(), &mut rng)?;
        let on_device = |e: EngineError| e.on_device(model.device(), run.evaluating);
        let at = Scale {
            index: scale,
            count: plan.dims.len(),
            size: (w, h),
            pre,
            start,
        };
        let x = iterate(
            &run.objective,
            run.x,
            run.optimizer,
            at,
            settings,
            &mut hooks,
        )
        .map_err(on_device)?;
        current = Some(Image::from_input(&x, &pre)?);
    }

    let out = current.ok_or_else(|| EngineError::setting("scales", "no scale to render"))?;
    Ok(finish(out, content, settings))
}

/// The finished picture, in the content's colours where the settings ask.
pub(crate) fn finish(out: Image, content: Option<&Image>, settings: &Settings) -> Image {
    match (settings.original_colors, content) {
        (OriginalColors::Luminance, Some(c)) => transfer_luminance(&out, c),
        _ => out,
    }
}

/// One picture's render, as [`optimize`] and a batch see it at each scale.
#[derive(Clone, Copy)]
pub(crate) struct Picture<'a> {
    pub(crate) content: Option<&'a Image>,
    pub(crate) extra: ExtraTerms<'a>,
    /// The style targets of the scale being set up.
    pub(crate) targets: &'a StyleTargets,
    pub(crate) settings: &'a Settings,
    pub(crate) plan: &'a Plan,
}

/// One scale of one picture, ready to iterate: its objective, the image to
/// start from, the optimiser (its history fitted to the memory) and what an
/// error report says of the evaluation.
pub(crate) struct ScaleRun<'m> {
    pub(crate) objective: Objective<'m>,
    pub(crate) x: Tensor,
    pub(crate) optimizer: Optimizer,
    pub(crate) evaluating: Evaluating,
}

impl Picture<'_> {
    /// The tiling, the optimiser (its history fitted to the memory) and the
    /// memory estimate of scale `scale`, as [`Picture::at_scale`] sets them
    /// up, without building anything.
    pub(crate) fn memory_at_scale(
        &self,
        model: &Vgg19,
        scale: usize,
    ) -> Result<(Option<usize>, Optimizer, Evaluating)> {
        let plan = self.plan;
        let dims = plan.dims[scale];
        let deepest = plan
            .content_layers
            .iter()
            .chain(&plan.style_layers)
            .map(|(l, _)| l.unit)
            .max()
            .unwrap_or(0);
        let (tile, optimizer) = tiling::plan_memory(self.settings, model, dims, deepest)?;
        let needed = tiling::evaluation_bytes(model, dims, deepest, tile, optimizer);
        Ok((tile, optimizer, Evaluating { dims, tile, needed }))
    }

    /// Sets up scale `scale` on `model` (already at the render's precision),
    /// starting from the previous scale's picture `current`, or from the
    /// settings' init (`rng` draws the noise).
    pub(crate) fn at_scale<'m>(
        &self,
        model: &'m Vgg19,
        scale: usize,
        current: Option<&Image>,
        rng: &mut ChaCha8Rng,
    ) -> Result<ScaleRun<'m>> {
        let Picture {
            content,
            extra: ExtraTerms { guide, temporal },
            targets,
            settings,
            plan,
        } = *self;
        let (w, h) = plan.dims[scale];
        let pre = *model.preprocess();
        let (device, dtype) = (model.device().clone(), model.dtype());
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
        let (tile, optimizer, evaluating) = self.memory_at_scale(model, scale)?;
        let on_device = |e: EngineError| e.on_device(&device, evaluating);
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
        )
        .map_err(on_device)?;
        // The flow and its weights exist at the output size only: the
        // temporal term joins at the last scale.
        let objective = match temporal {
            Some(t) if scale + 1 == plan.dims.len() => {
                objective.with_temporal(t.target((w, h), &pre, &device, dtype)?)?
            }
            _ => objective,
        };

        let x = match (current, &settings.init) {
            (Some(prev), _) => prev.resize(w, h).to_input(&pre, &device, dtype)?,
            (None, Init::Noise) => noise(rng, w, h)?.to_dtype(dtype)?.to_device(&device)?,
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
        Ok(ScaleRun {
            objective,
            x,
            optimizer,
            evaluating,
        })
    }
}

/// Which scale [`iterate`] runs: 0-based index of `count`, `(w, h)` pixels,
/// the model's preprocessing and when the render started.
#[derive(Clone, Copy)]
struct Scale {
    index: usize,
    count: usize,
    size: (usize, usize),
    pre: Preprocess,
    start: Instant,
}

/// One scale's optimisation from `x`: up to `settings.iterations` steps,
/// fewer when early stopping ends it; progress and snapshots go to `hooks`.
/// The losses are read every [`Settings::read_losses_every_on`] iterations,
/// and progress reported for each of them then, in order.
fn iterate(
    objective: &Objective<'_>,
    mut x: Tensor,
    optimizer: Optimizer,
    at: Scale,
    settings: &Settings,
    hooks: &mut Hooks<'_>,
) -> Result<Tensor> {
    let mut state = State::new(optimizer);
    let mut stop = EarlyStop::new(settings.tol_loss_relative, settings.tol_window);
    let every = settings.read_losses_every_on(x.device());
    let mut unread: Vec<LossSums> = Vec::with_capacity(every);
    let mut since = Instant::now();
    for it in 1..=settings.iterations {
        if hooks.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Err(EngineError::Cancelled);
        }
        let (sums, grad) = objective.evaluate_sums(&x)?;
        x = state.step(&x, &grad)?;
        unread.push(sums);
        let snapshot_due = hooks.snapshot.is_some()
            && settings.save_every > 0
            && it.is_multiple_of(settings.save_every);
        if !(it.is_multiple_of(every) || it == settings.iterations || snapshot_due) {
            continue;
        }
        let losses = LossSums::read(&unread.iter().collect::<Vec<_>>())?;
        unread.clear();
        let seconds = since.elapsed().as_secs_f64() / losses.len() as f64;
        let first = it + 1 - losses.len();
        let mut last = None;
        for (k, l) in losses.into_iter().enumerate() {
            check_finite(&l, first + k)?;
            // Under early stopping every iteration is read: only the
            // newest can be the one that stops.
            let converged = stop.stalled(l.total);
            let progress = Progress {
                scale: at.index,
                scales: at.count,
                width: at.size.0,
                height: at.size.1,
                iteration: first + k,
                iterations: settings.iterations,
                losses: l,
                elapsed_seconds: at.start.elapsed().as_secs_f64(),
                tiles: objective.tiles(),
                iteration_seconds: seconds,
                converged,
            };
            if let Some(p) = hooks.progress.as_mut() {
                p(&progress);
            }
            last = Some(progress);
        }
        let Some(progress) = last else { continue };
        if let Some(s) = hooks.snapshot.as_mut()
            && (snapshot_due || it == settings.iterations || progress.converged)
        {
            s(&progress, &Image::from_input(&x, &at.pre)?);
        }
        // The hooks' time is not the iterations'.
        since = Instant::now();
        if progress.converged {
            break;
        }
    }
    Ok(x)
}

/// A loss that overflowed stops the render: what follows would be noise.
pub(crate) fn check_finite(losses: &Losses, iteration: usize) -> Result<()> {
    if losses.total.is_finite() {
        return Ok(());
    }
    Err(EngineError::setting(
        "weights",
        format!(
            "the loss became {} at iteration {iteration}; lower the learning rate or the weights",
            losses.total
        ),
    ))
}

/// The early-stopping rule of [`Settings::tol_loss_relative`]: the lowest
/// total so far improved by less than `tol` (relative) over `window`
/// iterations. The running minimum, because L-BFGS without a line search has
/// single-iteration spikes (×10⁵ measured) that must neither stop nor
/// prolong a scale.
pub(crate) struct EarlyStop {
    tol: Option<f64>,
    window: usize,
    /// The lowest total so far at each of the last `window + 1` iterations.
    recent: VecDeque<f64>,
    best: f64,
    /// Some window has improved by at least `tol`: the descent has begun.
    /// From noise, L-BFGS sits on a plateau for its first iterations (about
    /// 10 at 96 px, measured); a plateau before any descent is not
    /// convergence.
    descending: bool,
}

impl EarlyStop {
    pub(crate) fn new(tol: Option<f64>, window: usize) -> EarlyStop {
        EarlyStop {
            tol,
            window,
            recent: VecDeque::with_capacity(window + 1),
            best: f64::INFINITY,
            descending: false,
        }
    }

    /// Takes this iteration's total; true when the scale should end here.
    pub(crate) fn stalled(&mut self, total: f64) -> bool {
        self.best = self.best.min(total);
        if self.recent.len() > self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(self.best);
        match (self.tol, self.recent.front()) {
            (Some(r), Some(&old)) if self.recent.len() > self.window => {
                let stalled = old - self.best < r * old.abs();
                self.descending |= !stalled;
                stalled && self.descending
            }
            _ => false,
        }
    }
}

/// `(3, h, w)` of N(0, 0.001²): neural-style's random init, seeded.
pub(crate) fn noise(rng: &mut ChaCha8Rng, w: usize, h: usize) -> Result<Tensor> {
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

#[cfg(test)]
mod tests {
    use super::EarlyStop;

    /// The first iteration at which `stalled` says stop, 1-based.
    fn stop_at(tol: Option<f64>, window: usize, totals: &[f64]) -> Option<usize> {
        let mut s = EarlyStop::new(tol, window);
        totals.iter().position(|&t| s.stalled(t)).map(|i| i + 1)
    }

    #[test]
    fn stops_when_the_window_improves_less_than_the_tolerance() {
        // 10 % better per iteration, then flat from iteration 6 on.
        let totals = [100.0, 90.0, 81.0, 72.9, 65.6, 65.6, 65.6, 65.6, 65.6];
        // 3 iterations after 65.6 first appears, the window holds no gain.
        assert_eq!(stop_at(Some(0.01), 3, &totals), Some(8));
        // A window of 1 sees the first flat step.
        assert_eq!(stop_at(Some(0.01), 1, &totals), Some(6));
        assert_eq!(stop_at(None, 1, &totals), None);
        // A 30 % tolerance over 3 iterations: 100 → 72.9 is 27 %, but
        // no window ever gained 30 %: the descent never counted as begun.
        assert_eq!(stop_at(Some(0.3), 3, &totals), None);
        // 20 %: 100 → 72.9 gains enough, 90 → 65.6 (27 %) too, 81 → 65.6
        // (19 %) does not.
        assert_eq!(stop_at(Some(0.2), 3, &totals), Some(6));
    }

    #[test]
    fn a_plateau_before_the_descent_is_not_convergence() {
        // From noise, L-BFGS's first iterations barely move the loss.
        let totals = [
            4.52e8, 4.52e8, 4.52e8, 4.51e8, 4.51e8, 4.5e8, 3e8, 1e8, 5e7, 4.9e7, 4.9e7, 4.9e7,
        ];
        assert_eq!(stop_at(Some(0.05), 3, &totals), Some(12));
    }

    #[test]
    fn a_spike_neither_stops_nor_delays() {
        // As L-BFGS without a line search does (measured: ×10⁵ for one step).
        let spiky = [100.0, 90.0, 1e7, 81.0, 72.9, 65.6, 1e9, 59.0, 53.1];
        assert_eq!(stop_at(Some(0.05), 2, &spiky), None);
        let smooth_then_flat = [100.0, 90.0, 81.0, 1e9, 81.0, 81.0];
        assert_eq!(stop_at(Some(0.05), 2, &smooth_then_flat), Some(5));
    }
}
