//! Optical flow (OpenCV DIS) on real frames, its sign convention checked
//! against the engine's warp, and consistency weights from real flows.

mod common;

use stylefarm_engine::Image;
use stylefarm_engine::video::{Motion, VGG_MEAN_RGB, warp};
use stylefarm_video::{DecodeOptions, Frame, decode_all, flow_pair, optical_flow};

fn first_frame() -> Frame {
    let dir = tempfile::tempdir().unwrap();
    let (_, frames) = decode_all(&common::clip(dir.path()), &DecodeOptions::default()).unwrap();
    frames.into_iter().next().unwrap()
}

/// `f` moved right by `s` pixels (the left columns repeat the edge).
fn shifted(f: &Frame, s: usize) -> Frame {
    let (w, h) = (f.width, f.height);
    let mut data = f.data.clone();
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                data[c * w * h + y * w + x] = f.data[c * w * h + y * w + x.saturating_sub(s)];
            }
        }
    }
    Frame {
        width: w,
        height: h,
        data,
    }
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// Values of plane `p` of a `(C, H, W)` buffer inside a margin.
fn interior(data: &[f32], p: usize, w: usize, h: usize, m: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for y in m..h - m {
        for x in m..w - m {
            out.push(data[p * w * h + y * w + x]);
        }
    }
    out
}

#[test]
fn flow_of_a_shift_points_to_where_each_pixel_went() {
    let a = first_frame();
    let b = shifted(&a, 2);
    let (w, h) = (a.width, a.height);
    let f = optical_flow(&a, &b).unwrap();
    assert_eq!((f.width, f.height, f.data.len()), (w, h, 2 * w * h));
    let (u, v) = (
        median(interior(&f.data, 0, w, h, 6)),
        median(interior(&f.data, 1, w, h, 6)),
    );
    assert!((u - 2.0).abs() < 0.3 && v.abs() < 0.3, "u {u}, v {v}");
    let back = optical_flow(&b, &a).unwrap();
    let u = median(interior(&back.data, 0, w, h, 6));
    assert!((u + 2.0).abs() < 0.3, "back u {u}");
}

#[test]
fn the_engine_warps_the_next_frame_back_onto_this_one_with_this_flow() {
    let a = first_frame();
    let b = shifted(&a, 2);
    let (w, h) = (a.width, a.height);
    let pair = flow_pair(&a, &b).unwrap();
    let motion = Motion {
        width: w,
        height: h,
        flow: pair.forward.data.clone(),
        weights: pair.forward_weights.clone(),
    };
    let next = Image {
        width: w,
        height: h,
        data: b.data.clone(),
    };
    let back = warp(&next, &motion, VGG_MEAN_RGB).unwrap();
    let err: Vec<f32> = (0..3)
        .flat_map(|c| {
            let (x, y) = (
                interior(&back.data, c, w, h, 6),
                interior(&a.data, c, w, h, 6),
            );
            x.into_iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .collect::<Vec<_>>()
        })
        .collect();
    let mean = err.iter().sum::<f32>() / err.len() as f32;
    assert!(mean < 0.02, "mean |warp(b) − a| = {mean}");
    // Without the flow the frames differ far more.
    let still: f32 = interior(&b.data, 1, w, h, 6)
        .iter()
        .zip(interior(&a.data, 1, w, h, 6))
        .map(|(p, q)| (p - q).abs())
        .sum::<f32>()
        / ((w - 12) * (h - 12)) as f32;
    assert!(still > 3.0 * mean, "{still} vs {mean}");
}

#[test]
fn consistency_of_a_real_pair_is_high_inside_and_zero_where_pixels_leave() {
    let a = first_frame();
    let b = shifted(&a, 2);
    let (w, h) = (a.width, a.height);
    let pair = flow_pair(&a, &b).unwrap();
    let inside = interior(&pair.forward_weights, 0, w, h, 8);
    let mean = inside.iter().sum::<f32>() / inside.len() as f32;
    assert!(mean > 0.8, "mean consistency inside {mean}");
    // Forward: the last columns land outside (their blurred weight keeps a
    // trace of reliable neighbours only).
    for y in 0..h {
        assert!(pair.forward_weights[y * w + w - 1] < 0.05);
    }
    assert!(
        pair.backward_weights
            .iter()
            .all(|c| (0.0..=1.0).contains(c))
    );
}

#[test]
fn frames_of_different_sizes_have_no_flow() {
    let a = first_frame();
    let b = Frame {
        width: 8,
        height: 8,
        data: vec![0.0; 192],
    };
    let e = optical_flow(&a, &b).unwrap_err();
    assert!(e.to_string().contains("flow needs one size"), "{e}");
}
