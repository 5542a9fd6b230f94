//! A segment between two fixed keyframes: the frames between them stylised
//! forward from the first keyframe and backward from the second, each frame
//! from its neighbour warped plus the temporal loss, then blended per pixel
//! by position and consistency. Both keyframes are returned unchanged, so
//! neighbouring segments meet exactly and segments can run on any worker in
//! any order once the keyframe chain is done.

use crate::error::{EngineError, Result};
use crate::image::Image;
use crate::model::Vgg19;
use crate::settings::Settings;
use crate::targets::StyleTargets;
use crate::video::chain::{FrameHooks, VideoSettings, check_frames, follow};
use crate::video::warp::Motion;

/// Added to each consistency weight in [`blend`], so that where neither
/// direction's flow is reliable the position alone decides.
pub const BLEND_FLOOR: f32 = 0.1;

/// One frame of a segment from its forward and backward stylisations:
/// per pixel `(w_f·f + w_b·b) / (w_f + w_b)` with `w_f = (1 − α)(c_f + ε)`,
/// `w_b = α (c_b + ε)`, where `α` in 0..1 is the frame's position between the
/// keyframes, `c_f` the consistency weights `(H, W)` of its link to the
/// previous frame (the forward pass), `c_b` those of its link to the next
/// (the backward pass) and `ε` = [`BLEND_FLOOR`].
pub fn blend(
    forward: &Image,
    backward: &Image,
    c_forward: &[f32],
    c_backward: &[f32],
    position: f64,
) -> Result<Image> {
    let n = forward.width * forward.height;
    if (backward.width, backward.height) != (forward.width, forward.height)
        || c_forward.len() != n
        || c_backward.len() != n
    {
        return Err(EngineError::setting(
            "blend",
            "forward and backward frames and their weights must have one size",
        ));
    }
    if !(0.0..=1.0).contains(&position) {
        return Err(EngineError::setting(
            "blend",
            format!("position {position} must be in 0..1"),
        ));
    }
    let a = position as f32;
    let mut data = vec![0f32; 3 * n];
    for i in 0..n {
        let wf = (1.0 - a) * (c_forward[i] + BLEND_FLOOR);
        let wb = a * (c_backward[i] + BLEND_FLOOR);
        let s = wf + wb;
        for c in 0..3 {
            let j = c * n + i;
            data[j] = (wf * forward.data[j] + wb * backward.data[j]) / s;
        }
    }
    Ok(Image {
        width: forward.width,
        height: forward.height,
        data,
    })
}

/// Stylises the frames strictly between two keyframes. `frames` are the
/// contents from the first keyframe to the second, both included (n ≥ 2);
/// `first` and `last` the keyframes already stylised (by the keyframe chain);
/// `to_prev[i]` the motion from frame `i + 1` to frame `i`, `to_next[i]` the
/// motion from frame `i` to frame `i + 1`. Returns all n frames: `first`,
/// the blended frames between, `last`. Progress reports each frame's index in
/// `frames` (each inner frame twice: forward, then backward).
#[allow(clippy::too_many_arguments)]
pub fn stylize_segment(
    model: &Vgg19,
    targets: &[StyleTargets],
    settings: &Settings,
    video: &VideoSettings,
    frames: &[Image],
    first: &Image,
    last: &Image,
    to_prev: &[Motion],
    to_next: &[Motion],
    hooks: &mut FrameHooks<'_>,
) -> Result<Vec<Image>> {
    video.check()?;
    if video.temporal_weight == 0.0 {
        return Err(EngineError::setting(
            "temporal_weight",
            "a segment follows the motion from both keyframes and needs a temporal weight > 0; \
             render frames independently for the per-frame mode",
        ));
    }
    if frames.len() < 2 {
        return Err(EngineError::setting(
            "frames",
            "a segment needs both of its keyframes' frames",
        ));
    }
    check_frames(settings, frames, to_prev, Some(first))?;
    check_frames(settings, frames, to_next, Some(last))?;
    let n = frames.len();
    let mut forward = vec![first.clone()];
    for t in 1..n - 1 {
        let prev = &forward[t - 1];
        let f = hooks.frame(t, |h| {
            follow(
                model,
                targets,
                settings,
                video,
                &frames[t],
                prev,
                &to_prev[t - 1],
                None,
                false,
                h,
            )
        })?;
        forward.push(f);
    }
    let mut out = vec![last.clone()];
    let mut next = last.clone();
    for t in (1..n - 1).rev() {
        // Started from the successor warped back; held to the successor by
        // this frame warped forward, the direction the warping error measures.
        // The frame next to the keyframe starts from the keyframe's preimage
        // instead: the blend keeps mostly this frame there, and a plain warp
        // back and forth would leave the keyframe blurred against it.
        // Further in, unwarping again and again sharpens noise (measured in
        // docs/video.md), so those frames start from the plain warp.
        let unwarp = t == n - 2;
        let b = hooks.frame(t, |h| {
            follow(
                model,
                targets,
                settings,
                video,
                &frames[t],
                &next,
                &to_next[t],
                Some(&to_prev[t]),
                unwarp,
                h,
            )
        })?;
        let position = t as f64 / (n - 1) as f64;
        out.push(blend(
            &forward[t],
            &b,
            &to_prev[t - 1].weights,
            &to_next[t].weights,
            position,
        )?);
        next = b;
    }
    out.push(first.clone());
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: usize, h: usize, v: f32) -> Image {
        Image {
            width: w,
            height: h,
            data: vec![v; 3 * w * h],
        }
    }

    #[test]
    fn blend_follows_position_where_both_directions_are_reliable() {
        let (f, b) = (flat(3, 2, 0.0), flat(3, 2, 1.0));
        let ones = vec![1.0; 6];
        for (pos, want) in [(0.0, 0.0), (0.25, 0.25), (1.0, 1.0)] {
            let out = blend(&f, &b, &ones, &ones, pos).unwrap();
            assert!(
                out.data.iter().all(|&v| (v - want).abs() < 1e-6),
                "{pos}: {:?}",
                out.data
            );
        }
    }

    #[test]
    fn blend_prefers_the_direction_whose_flow_is_reliable() {
        let (f, b) = (flat(2, 1, 0.0), flat(2, 1, 1.0));
        // Pixel 0: the forward link is disoccluded; pixel 1: the backward one.
        let out = blend(&f, &b, &[0.0, 1.0], &[1.0, 0.0], 0.5).unwrap();
        let e = BLEND_FLOOR;
        let want0 = (1.0 + e) / (1.0 + 2.0 * e);
        assert!((out.data[0] - want0).abs() < 1e-6);
        assert!((out.data[1] - (1.0 - want0)).abs() < 1e-6);
    }

    #[test]
    fn blend_refuses_a_position_outside_the_segment() {
        let f = flat(1, 1, 0.0);
        assert!(blend(&f, &f, &[1.0], &[1.0], 1.5).is_err());
    }
}
