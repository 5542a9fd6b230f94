//! Many same-size pictures at once: each iteration is one forward and one
//! backward pass of the whole batch `(N, 3, H, W)`, and each picture keeps
//! its own targets, weights, optimiser state (its own L-BFGS history) and
//! early stop. What a GPU gains: one launch per layer for N pictures rather
//! than N, each launch N times fuller. On the CPU a batch is a loop over the
//! pictures (see `ops`), and each picture comes out as its render alone.
//!
//! A batch runs in lockstep: iteration k of every picture, then k + 1. A
//! picture that has run its iterations or converged leaves the batch; the
//! others go on without it.

use std::time::Instant;

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{EngineError, Evaluating, Result};
use crate::image::Image;
use crate::objective::{LossSums, Objective};
use crate::optim::State;
use crate::render::{
    CancelToken, EarlyStop, ExtraTerms, Picture, Progress, ScaleRun, check_finite, check_targets,
    finish,
};
use crate::settings::{Plan, Settings};
use crate::targets::StyleTargets;
use crate::tiling::{default_max_memory, model_bytes};

/// One picture of a batch: what [`crate::render_with_targets`] takes.
#[derive(Clone, Copy)]
pub struct BatchPicture<'a> {
    /// The content photo; `None` for a texture.
    pub content: Option<&'a Image>,
    /// Style targets, one per scale of [`Settings::scale_dims`].
    pub targets: &'a [StyleTargets],
    pub settings: &'a Settings,
}

/// Receives a picture's index in the batch and where it stands.
pub type BatchProgressHook<'a> = &'a mut dyn FnMut(usize, &Progress);

/// Callbacks of a running batch. No snapshots: a picture that wants them
/// renders alone.
#[derive(Default)]
pub struct BatchHooks<'a> {
    /// After every iteration of every picture still in the batch: its
    /// index in the batch and where it stands.
    pub progress: Option<BatchProgressHook<'a>>,
    pub cancel: Option<CancelToken>,
}

/// Renders every picture in one batched pass per iteration; the pictures
/// come back in order, each equal to its [`crate::render_with_targets`]
/// within the precision's tolerance (on the CPU: the same numbers).
///
/// Errors: [`EngineError::NotBatchable`] when the pictures cannot share
/// passes (different sizes, scales, precisions or layers, or more memory
/// than the budget: render them one at a time then); any error a single
/// render has.
pub fn render_batch(
    model: &crate::Vgg19,
    pictures: &[BatchPicture<'_>],
    mut hooks: BatchHooks<'_>,
) -> Result<Vec<Image>> {
    let Some(first) = pictures.first() else {
        return Ok(Vec::new());
    };
    let start = Instant::now();
    let plans = pictures
        .iter()
        .map(|p| {
            let plan = p.settings.plan(p.content, None)?;
            check_targets(&plan, p.targets)?;
            Ok(plan)
        })
        .collect::<Result<Vec<Plan>>>()?;
    let precision = first.settings.precision_on(model.device());
    for (i, (p, plan)) in pictures.iter().zip(&plans).enumerate().skip(1) {
        if plan.dims != plans[0].dims {
            return Err(not_batchable(format!(
                "picture {} has scales {:?}, picture 1 {:?}",
                i + 1,
                plan.dims,
                plans[0].dims
            )));
        }
        if p.settings.precision_on(model.device()) != precision {
            return Err(not_batchable(format!(
                "picture {} has another precision",
                i + 1
            )));
        }
    }
    let model = &model.with_precision(precision)?;
    let pre = *model.preprocess();
    let mut rngs: Vec<ChaCha8Rng> = pictures
        .iter()
        .map(|p| ChaCha8Rng::seed_from_u64(p.settings.seed))
        .collect();
    let mut current: Vec<Option<Image>> = vec![None; pictures.len()];
    let scales = plans[0].dims.len();
    // Every scale's memory first: a batch that would not fit at a later,
    // larger scale is refused before it renders anything.
    for scale in 0..scales {
        let evaluating = pictures
            .iter()
            .zip(&plans)
            .map(|(p, plan)| Ok(picture_at(p, plan, scale).memory_at_scale(model, scale)?.2))
            .collect::<Result<Vec<Evaluating>>>()?;
        check_memory(&evaluating, first.settings, model)?;
    }
    for scale in 0..scales {
        let runs = pictures
            .iter()
            .zip(&plans)
            .zip(rngs.iter_mut().zip(&current))
            .map(|((p, plan), (rng, cur))| {
                picture_at(p, plan, scale).at_scale(model, scale, cur.as_ref(), rng)
            })
            .collect::<Result<Vec<ScaleRun<'_>>>>()?;
        let evaluating = check_fits(&runs, first.settings, model)?;
        let at = At {
            scale,
            scales,
            start,
        };
        let xs = iterate(&runs, pictures, at, &mut hooks)
            .map_err(|e| e.on_device(model.device(), evaluating))?;
        current = xs
            .iter()
            .map(|x| Ok(Some(Image::from_input(x, &pre)?)))
            .collect::<Result<_>>()?;
    }
    current
        .into_iter()
        .zip(pictures)
        .map(|(out, p)| {
            let out = out.ok_or_else(|| EngineError::setting("scales", "no scale to render"))?;
            Ok(finish(out, p.content, p.settings))
        })
        .collect()
}

/// Batch picture `p` at `scale`, as a single render sets it up.
fn picture_at<'a>(p: &BatchPicture<'a>, plan: &'a Plan, scale: usize) -> Picture<'a> {
    Picture {
        content: p.content,
        extra: ExtraTerms::default(),
        targets: &p.targets[scale],
        settings: p.settings,
        plan,
    }
}

fn not_batchable(reason: String) -> EngineError {
    EngineError::NotBatchable { reason }
}

/// Checks that the scale's pictures can share passes and fit the budget
/// together (of the first picture's settings, or the device's default);
/// returns what an error report says of the batch's evaluation.
fn check_fits(
    runs: &[ScaleRun<'_>],
    settings: &Settings,
    model: &crate::Vgg19,
) -> Result<Evaluating> {
    let first = &runs[0];
    for (i, r) in runs.iter().enumerate().skip(1) {
        if let Some(why) = first.objective.batch_mismatch(&r.objective) {
            return Err(not_batchable(format!(
                "picture {} and picture 1: {why}",
                i + 1
            )));
        }
    }
    let evaluating: Vec<Evaluating> = runs.iter().map(|r| r.evaluating).collect();
    check_memory(&evaluating, settings, model)
}

/// Checks that pictures of these evaluations fit the budget together (of
/// the first picture's settings, or the device's default), untiled; returns
/// the batch's evaluation as an error report gives it.
fn check_memory(
    evaluating: &[Evaluating],
    settings: &Settings,
    model: &crate::Vgg19,
) -> Result<Evaluating> {
    if evaluating.iter().any(|e| e.tile.is_some()) {
        return Err(not_batchable(
            "a picture needs exact tiles in this memory budget".into(),
        ));
    }
    // Each estimate counts the weights, which the batch holds once.
    let weights = model_bytes(model.dtype(), model.device());
    let needed = weights
        + evaluating
            .iter()
            .map(|e| e.needed.saturating_sub(weights))
            .sum::<u64>();
    let budget = settings
        .max_memory
        .unwrap_or_else(|| default_max_memory(model.device()));
    let first = evaluating[0];
    if needed > budget {
        return Err(not_batchable(format!(
            "{} pictures of {}×{} need about {} MiB together, the budget is {} MiB",
            evaluating.len(),
            first.dims.0,
            first.dims.1,
            needed >> 20,
            budget >> 20
        )));
    }
    Ok(Evaluating { needed, ..first })
}

/// Which scale a batch iterates, and when the batch started.
#[derive(Clone, Copy)]
struct At {
    scale: usize,
    scales: usize,
    start: Instant,
}

/// One scale of every picture in lockstep; returns each picture's image
/// `(3, H, W)` where its optimisation ended. The losses are read as a
/// single render reads them ([`Settings::read_losses_every_on`]; every
/// iteration when any picture stops early), every picture's in one transfer.
fn iterate(
    runs: &[ScaleRun<'_>],
    pictures: &[BatchPicture<'_>],
    at: At,
    hooks: &mut BatchHooks<'_>,
) -> Result<Vec<Tensor>> {
    let mut xs: Vec<Tensor> = runs.iter().map(|r| r.x.clone()).collect();
    let mut states: Vec<State> = runs.iter().map(|r| State::new(r.optimizer)).collect();
    let mut stops: Vec<EarlyStop> = pictures
        .iter()
        .map(|p| EarlyStop::new(p.settings.tol_loss_relative, p.settings.tol_window))
        .collect();
    let device = runs[0].x.device().clone();
    let every = pictures
        .iter()
        .map(|p| p.settings.read_losses_every_on(&device))
        .min()
        .unwrap_or(1);
    let mut done = vec![false; runs.len()];
    // (iteration, picture, its loss terms) not read yet.
    let mut unread: Vec<(usize, usize, LossSums)> = Vec::new();
    let mut since = Instant::now();
    let longest = pictures
        .iter()
        .map(|p| p.settings.iterations)
        .max()
        .unwrap_or(0);
    for it in 1..=longest {
        if hooks.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Err(EngineError::Cancelled);
        }
        for (i, p) in pictures.iter().enumerate() {
            done[i] |= it > p.settings.iterations;
        }
        let active: Vec<usize> = (0..runs.len()).filter(|&i| !done[i]).collect();
        if active.is_empty() {
            break;
        }
        let objectives: Vec<&Objective<'_>> = active.iter().map(|&i| &runs[i].objective).collect();
        let batch: Vec<&Tensor> = active.iter().map(|&i| &xs[i]).collect();
        let (sums, grad) = Objective::evaluate_batch(&objectives, &Tensor::stack(&batch, 0)?)?;
        for ((k, &i), s) in active.iter().enumerate().zip(sums) {
            xs[i] = states[i].step(&xs[i], &grad.get(k)?)?;
            unread.push((it, i, s));
        }
        let last = active
            .iter()
            .any(|&i| it == pictures[i].settings.iterations);
        if !(it.is_multiple_of(every) || last || it == longest) {
            continue;
        }
        let losses = LossSums::read(&unread.iter().map(|u| &u.2).collect::<Vec<_>>())?;
        let iterations = unread.last().map_or(0, |u| u.0) + 1 - unread.first().map_or(0, |u| u.0);
        let seconds = since.elapsed().as_secs_f64() / iterations as f64;
        for ((iteration, i, _), l) in unread.drain(..).zip(losses) {
            check_finite(&l, iteration)?;
            let converged = stops[i].stalled(l.total);
            done[i] |= converged;
            if let Some(p) = hooks.progress.as_mut() {
                let (width, height) = runs[i].evaluating.dims;
                p(
                    i,
                    &Progress {
                        scale: at.scale,
                        scales: at.scales,
                        width,
                        height,
                        iteration,
                        iterations: pictures[i].settings.iterations,
                        losses: l,
                        elapsed_seconds: at.start.elapsed().as_secs_f64(),
                        tiles: 1,
                        iteration_seconds: seconds,
                        converged,
                    },
                );
            }
        }
        since = Instant::now();
    }
    Ok(xs)
}
