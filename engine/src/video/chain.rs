//! Stylising a chain of frames: each started from its stylised neighbour
//! warped by optical flow and held to it by the temporal loss (Ruder,
//! Dosovitskiy & Brox 2016, §3–4; artistic-videos' `-init prevWarped` with a
//! `initWeighted` temporal loss).

use crate::error::{EngineError, Result};
use crate::image::Image;
use crate::model::Vgg19;
use crate::render::{CancelToken, Hooks, Progress, with_targets};
use crate::settings::{Init, Settings, Style};
use crate::targets::StyleTargets;
use crate::video::warp::{Motion, Temporal, mean_pixel, preimage, warp};

/// The controls a video adds to [`Settings`].
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSettings {
    /// γ, the weight of the temporal loss (artistic-videos' default 1e3, in
    /// the same normalisation as the content weight 5 and style weight 100).
    /// 0 renders every frame on its own from [`Settings::init`]: the
    /// per-frame mode that flickers, kept for comparison.
    pub temporal_weight: f64,
    /// Iterations of a frame that starts from its warped neighbour; `None` =
    /// [`Settings::iterations`] / [`KEYFRAME_ITERATION_RATIO`], rounded up.
    /// artistic-videos runs 2000 for the first frame and 1000 for each later
    /// one.
    pub frame_iterations: Option<usize>,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings {
            temporal_weight: 1e3,
            frame_iterations: None,
        }
    }
}

/// How many times a frame's iterations a keyframe (and the first frame)
/// gets by default. Keyframes are few and fix both ends of every segment;
/// the more converged they are against the frames between, the less those
/// frames jump next to them. In the segment benchmark (docs/video.md) at
/// ratios 1, 2 and 4 the segmented result's warping error was 1.16, 1.08
/// and 1.06 × a sequential chain's with the same settings, and 1.59, 1.23
/// and 1.12 × its mean where segments meet.
pub const KEYFRAME_ITERATION_RATIO: usize = 4;

impl VideoSettings {
    /// The iterations of a frame that follows its neighbour.
    pub fn frame_iterations(&self, settings: &Settings) -> usize {
        self.frame_iterations.unwrap_or_else(|| {
            settings
                .iterations
                .div_ceil(KEYFRAME_ITERATION_RATIO)
                .max(1)
        })
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !(self.temporal_weight.is_finite() && self.temporal_weight >= 0.0) {
            return Err(EngineError::setting(
                "temporal_weight",
                format!("{} must be a finite number ≥ 0", self.temporal_weight),
            ));
        }
        if self.frame_iterations == Some(0) {
            return Err(EngineError::setting(
                "frame_iterations",
                "0 iterations would leave each frame as its warped neighbour; use at least 1",
            ));
        }
        Ok(())
    }
}

/// Receives a frame's index in its chain or segment and where its render stands.
pub type FrameProgress<'a> = &'a mut dyn FnMut(usize, &Progress);

/// Callbacks of a running chain or segment. All optional.
#[derive(Default)]
pub struct FrameHooks<'a> {
    pub progress: Option<FrameProgress<'a>>,
    pub cancel: Option<CancelToken>,
}

impl FrameHooks<'_> {
    /// Runs `f` with render hooks that report as frame `index`.
    pub(crate) fn frame<R>(&mut self, index: usize, f: impl FnOnce(Hooks<'_>) -> R) -> R {
        let cancel = self.cancel.clone();
        let mut report = |p: &Progress| {
            if let Some(progress) = self.progress.as_mut() {
                progress(index, p)
            }
        };
        f(Hooks {
            progress: Some(&mut report),
            snapshot: None,
            cancel,
        })
    }
}

/// The style targets of a whole video, one per scale of
/// [`Settings::scale_dims`]: computed once from the first frame, so that
/// every frame aims at the same Grams (with `original_colors = match` the
/// styles take the first frame's colours).
pub fn video_targets(
    model: &Vgg19,
    styles: &[Style],
    first: &Image,
    settings: &Settings,
) -> Result<Vec<StyleTargets>> {
    settings
        .scale_dims(Some(first))?
        .into_iter()
        .map(|dims| StyleTargets::for_scale(model, styles, Some(first), settings, dims))
        .collect()
}

/// Renders one frame against precomputed targets, with the temporal term of
/// `temporal` (whose warped image should also be the frame's init).
pub fn render_frame(
    model: &Vgg19,
    frame: &Image,
    targets: &[StyleTargets],
    settings: &Settings,
    temporal: Option<Temporal<'_>>,
    hooks: Hooks<'_>,
) -> Result<Image> {
    with_targets(
        model,
        Some(frame),
        None,
        targets,
        settings,
        temporal.as_ref(),
        hooks,
    )
}

/// Stylises `frames` in order. Frame 0 is `anchor` when given (an already
/// stylised frame, e.g. a keyframe, returned unchanged) or rendered from
/// `settings`; each later frame `t` starts from the result of frame `t − 1`
/// warped by `to_prev[t − 1]` (the motion from frame `t` to frame `t − 1`)
/// and carries the temporal loss against it, weighted by that motion's
/// consistency weights. With `temporal_weight = 0` every frame is rendered
/// on its own. Returns every frame, stylised; all frames must have the size
/// the settings render them at (their long side = `settings.size`).
#[allow(clippy::too_many_arguments)]
pub fn stylize_chain(
    model: &Vgg19,
    targets: &[StyleTargets],
    settings: &Settings,
    video: &VideoSettings,
    frames: &[Image],
    to_prev: &[Motion],
    anchor: Option<&Image>,
    hooks: &mut FrameHooks<'_>,
) -> Result<Vec<Image>> {
    video.check()?;
    check_frames(settings, frames, to_prev, anchor)?;
    let mut out: Vec<Image> = Vec::with_capacity(frames.len());
    for (t, frame) in frames.iter().enumerate() {
        let image = match (t, anchor) {
            (0, Some(a)) => a.clone(),
            (0, None) => hooks.frame(t, |h| {
                render_frame(model, frame, targets, settings, None, h)
            })?,
            _ if video.temporal_weight == 0.0 => hooks.frame(t, |h| {
                render_frame(model, frame, targets, settings, None, h)
            })?,
            _ => {
                let prev = &out[t - 1];
                hooks.frame(t, |h| {
                    follow(
                        model,
                        targets,
                        settings,
                        video,
                        frame,
                        prev,
                        &to_prev[t - 1],
                        None,
                        false,
                        h,
                    )
                })?
            }
        };
        out.push(image);
    }
    Ok(out)
}

/// The keyframe chain: [`stylize_chain`] over every K-th frame (and the
/// last), with the flows between neighbouring keyframes, where every
/// keyframe gets the full [`Settings::iterations`] rather than
/// `frame_iterations`. Keyframes are few and fix both ends of every segment:
/// the closer each is to convergence, the less the frames next to it change
/// from it (measured in `docs/video.md`).
#[allow(clippy::too_many_arguments)]
pub fn stylize_keyframes(
    model: &Vgg19,
    targets: &[StyleTargets],
    settings: &Settings,
    video: &VideoSettings,
    keyframes: &[Image],
    to_prev: &[Motion],
    hooks: &mut FrameHooks<'_>,
) -> Result<Vec<Image>> {
    let video = VideoSettings {
        frame_iterations: Some(settings.iterations),
        ..video.clone()
    };
    stylize_chain(
        model, targets, settings, &video, keyframes, to_prev, None, hooks,
    )
}

/// Renders `frame` starting from `neighbour` (stylised) warped by `motion`
/// (this frame → the neighbour). The temporal loss holds it to that warped
/// image (`back: None`), or, with `back` the neighbour's motion to this
/// frame, holds this frame warped by `back` to the neighbour itself; then
/// `unwarp` starts it from the neighbour's [`preimage`] under `back`
/// instead of the plain warp.
#[allow(clippy::too_many_arguments)]
pub(crate) fn follow(
    model: &Vgg19,
    targets: &[StyleTargets],
    settings: &Settings,
    video: &VideoSettings,
    frame: &Image,
    neighbour: &Image,
    motion: &Motion,
    back: Option<&Motion>,
    unwarp: bool,
    hooks: Hooks<'_>,
) -> Result<Image> {
    let warped = warp(neighbour, motion, mean_pixel(model.preprocess()))?;
    let mut s = settings.clone();
    s.init = Init::Image(match back {
        Some(b) if unwarp => preimage(neighbour, b, &warped)?,
        _ => warped.clone(),
    });
    s.iterations = video.frame_iterations(settings);
    let temporal = match back {
        None => Temporal {
            target: &warped,
            weights: &motion.weights,
            weight: video.temporal_weight,
            through: None,
        },
        Some(b) => Temporal {
            target: neighbour,
            weights: &b.weights,
            weight: video.temporal_weight,
            through: Some(b),
        },
    };
    render_frame(model, frame, targets, &s, Some(temporal), hooks)
}

/// Every frame (and the anchor) at the size the settings render at, and one
/// motion of that size per link.
pub(crate) fn check_frames(
    settings: &Settings,
    frames: &[Image],
    motions: &[Motion],
    anchor: Option<&Image>,
) -> Result<()> {
    let Some(first) = frames.first() else {
        return Err(EngineError::setting("frames", "no frames to stylise"));
    };
    if motions.len() + 1 != frames.len() {
        return Err(EngineError::setting(
            "motion",
            format!(
                "{} frames need {} motions between them, got {}",
                frames.len(),
                frames.len() - 1,
                motions.len()
            ),
        ));
    }
    let dims = (first.width, first.height);
    if settings.output_dims(Some(first)) != dims {
        return Err(EngineError::setting(
            "size",
            format!(
                "frames are {}×{} but the settings render at long side {}: set size to {}",
                dims.0,
                dims.1,
                settings.size,
                dims.0.max(dims.1)
            ),
        ));
    }
    for f in frames.iter().chain(anchor) {
        if (f.width, f.height) != dims {
            return Err(EngineError::setting(
                "frames",
                format!(
                    "a frame of {}×{} among frames of {}×{}: all frames must have one size",
                    f.width, f.height, dims.0, dims.1
                ),
            ));
        }
    }
    for m in motions {
        m.check(dims.0, dims.1)?;
    }
    Ok(())
}
