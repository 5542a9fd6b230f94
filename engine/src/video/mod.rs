//! Video, after Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for
//! videos" (code: manuelruder/artistic-videos): the temporal loss, warping,
//! and the algorithms a farm runs as plain synchronous functions: a chain of
//! frames (also the keyframe chain), a segment between two fixed keyframes,
//! and the warping error. Pure compute: flow fields and their consistency
//! weights come in as buffers (the `stylefarm-video` crate computes them).
//!
//! Layout:
//! - `warp`: [`Motion`] (and its composition), bilinear [`warp`] and its
//!   [`preimage`], [`Temporal`], [`warping_errors`].
//! - `sample`: [`Sampler`], bilinear sampling along a flow and its transpose.
//! - `chain`: [`stylize_chain`], [`stylize_keyframes`], [`render_frame`], [`video_targets`].
//! - `segment`: [`stylize_segment`] and its per-pixel [`blend`].

mod chain;
mod sample;
mod segment;
mod warp;

pub use chain::{
    FrameHooks, FrameProgress, KEYFRAME_ITERATION_RATIO, VideoSettings, render_frame,
    stylize_chain, stylize_keyframes, video_targets,
};
pub use sample::Sampler;
pub use segment::{BLEND_FLOOR, blend, stylize_segment};
pub use warp::{Motion, Temporal, VGG_MEAN_RGB, mean_pixel, preimage, warp, warping_errors};
