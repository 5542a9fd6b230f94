//! Flow consistency weights exactly as artistic-videos' `consistencyChecker`
//! computes them (Ruder, Dosovitskiy & Brox 2016, §3.1), for a flow and the
//! flow back:
//!
//! - a pixel whose flow leaves the frame (its bilinear cell reaches past the
//!   border) gets 0;
//! - disoccluded where `|w̃ + ŵ|² ≥ 0.01 (|w̃|² + |ŵ|²) + 0.5`, `w̃` the flow at
//!   the pixel and `ŵ` the flow back sampled bilinearly where it lands: −255,
//!   so that the blur spreads the mask outwards;
//! - else a motion boundary where `|∇u|² + |∇v|² > 0.01 |w̃|² + 0.002`
//!   (central differences, mirrored borders): 0;
//! - else 255; then a Gaussian blur (σ = 0.8, 5 taps, mirrored borders),
//!   clipped to 0..255 and divided by 255 (Torch's image.load of the PGM).
//!
//! The disocclusion test is `≥` in their code (`>` in the paper); this
//! follows the code.

use crate::error::{Result, VideoError};
use crate::flow::Flow;

/// Standard deviation of the blur (`SMOOTH_STRENGH`).
const SIGMA: f64 = 0.8;
/// The kernel reaches `ceil(PRECISION · σ)` pixels each way (`CSmooth(σ, 2)`).
const PRECISION: f64 = 2.0;

/// Consistency weights `(H, W)` in 0..1 of `flow` (this frame → the other)
/// checked against `back` (the other frame → this one).
pub fn consistency(flow: &Flow, back: &Flow) -> Result<Vec<f32>> {
    flow.check()?;
    back.check()?;
    if (flow.width, flow.height) != (back.width, back.height) {
        return Err(VideoError::invalid(
            "flow",
            format!(
                "a {}×{} flow cannot be checked against a {}×{} one",
                flow.width, flow.height, back.width, back.height
            ),
        ));
    }
    let (w, h) = (flow.width, flow.height);
    let n = w * h;
    let (u, v) = flow.data.split_at(n);
    let (bu, bv) = back.data.split_at(n);
    let edge = motion_edges(u, v, w, h);
    let mut reliable = vec![255f32; n];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let bx = x as f32 + u[i];
            let by = y as f32 + v[i];
            let (x1, y1) = (bx.floor(), by.floor());
            if x1 < 0.0 || x1 + 1.0 >= w as f32 || y1 < 0.0 || y1 + 1.0 >= h as f32 {
                reliable[i] = 0.0;
                continue;
            }
            let (ax, ay) = (bx - x1, by - y1);
            let (x1, y1) = (x1 as usize, y1 as usize);
            let sample = |p: &[f32]| {
                let a = (1.0 - ax) * p[y1 * w + x1] + ax * p[y1 * w + x1 + 1];
                let b = (1.0 - ax) * p[(y1 + 1) * w + x1] + ax * p[(y1 + 1) * w + x1 + 1];
                (1.0 - ay) * a + ay * b
            };
            let (ub, vb) = (sample(bu), sample(bv));
            let (cx, cy) = (bx + ub, by + vb);
            let (fu, fv) = (u[i] as f64, v[i] as f64);
            let round_trip =
                ((cx - x as f32) * (cx - x as f32) + (cy - y as f32) * (cy - y as f32)) as f64;
            let (ub, vb) = (ub as f64, vb as f64);
            if round_trip >= 0.01 * (fu * fu + fv * fv + ub * ub + vb * vb) + 0.5 {
                reliable[i] = -255.0;
                continue;
            }
            if edge[i] as f64 > 0.01 * (fu * fu + fv * fv) + 0.002 {
                reliable[i] = 0.0;
            }
        }
    }
    let smoothed = blur(&reliable, w, h);
    Ok(smoothed
        .iter()
        .map(|r| r.clamp(0.0, 255.0) / 255.0)
        .collect())
}

/// `|∇u|² + |∇v|²` with the centred difference `(p[x+1] − p[x−1]) / 2` in
/// each direction (`CDerivative(3)`).
fn motion_edges(u: &[f32], v: &[f32], w: usize, h: usize) -> Vec<f32> {
    let deriv = [-0.5f32, 0.0, 0.5];
    let mut e = vec![0f32; w * h];
    for p in [u, v] {
        let dx = filter_x(p, w, h, &deriv);
        let dy = filter_y(p, w, h, &deriv);
        for i in 0..w * h {
            e[i] += dx[i] * dx[i] + dy[i] * dy[i];
        }
    }
    e
}

/// The normalised Gaussian taps `exp(−i²/2σ²)` for `i` in `−r..=r`.
fn gaussian() -> Vec<f32> {
    let r = (PRECISION * SIGMA).ceil() as i64;
    let taps: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * SIGMA * SIGMA)).exp())
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.iter().map(|t| (t / sum) as f32).collect()
}

fn blur(p: &[f32], w: usize, h: usize) -> Vec<f32> {
    let g = gaussian();
    filter_y(&filter_x(p, w, h, &g), w, h, &g)
}

/// Index `i` mirrored into `0..n`, repeating the edge sample (`−1 → 0`,
/// `n → n − 1`) as `NFilter::filter` does; repeated for rows shorter than
/// the kernel, which the original never meets.
fn mirror(i: i64, n: usize) -> usize {
    let n = n as i64;
    let period = 2 * n;
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - 1 - m }) as usize
}

/// Correlation along x with an odd, centred kernel.
fn filter_x(p: &[f32], w: usize, h: usize, k: &[f32]) -> Vec<f32> {
    let r = (k.len() / 2) as i64;
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let row = &p[y * w..(y + 1) * w];
        for x in 0..w {
            out[y * w + x] = k
                .iter()
                .enumerate()
                .map(|(j, kj)| kj * row[mirror(x as i64 + j as i64 - r, w)])
                .sum();
        }
    }
    out
}

/// Correlation along y with an odd, centred kernel.
fn filter_y(p: &[f32], w: usize, h: usize, k: &[f32]) -> Vec<f32> {
    let r = (k.len() / 2) as i64;
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = k
                .iter()
                .enumerate()
                .map(|(j, kj)| kj * p[mirror(y as i64 + j as i64 - r, h) * w + x])
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(w: usize, h: usize, f: impl Fn(usize, usize) -> (f32, f32)) -> Flow {
        let mut data = vec![0f32; 2 * w * h];
        for y in 0..h {
            for x in 0..w {
                let (u, v) = f(x, y);
                data[y * w + x] = u;
                data[w * h + y * w + x] = v;
            }
        }
        Flow {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn gaussian_has_five_normalised_taps() {
        let g = gaussian();
        assert_eq!(g.len(), 5);
        assert!((g.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let ratio = g[1] / g[2];
        assert!((ratio - (-1.0f32 / (2.0 * 0.64)).exp()).abs() < 1e-6);
    }

    #[test]
    fn mirror_repeats_the_edge_sample() {
        let idx: Vec<usize> = (-3..8).map(|i| mirror(i, 5)).collect();
        assert_eq!(idx, vec![2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2]);
    }

    #[test]
    fn consistent_translation_is_reliable_inside_and_zero_where_it_leaves() {
        let (w, h) = (20, 12);
        let fwd = field(w, h, |_, _| (2.0, 0.0));
        let bwd = field(w, h, |_, _| (-2.0, 0.0));
        let c = consistency(&fwd, &bwd).unwrap();
        for y in 2..h - 3 {
            // Far from the borders: fully reliable.
            for x in 0..13 {
                assert!(
                    (c[y * w + x] - 1.0).abs() < 1e-6,
                    "({x}, {y}) = {}",
                    c[y * w + x]
                );
            }
            // x + 2 + 1 ≥ W from x = 17: the flow leaves the frame; the blur
            // (two taps each way) softens the step.
            assert_eq!(c[y * w + 19], 0.0);
            let edge = c[y * w + 17];
            assert!(edge > 0.2 && edge < 0.3, "{edge}");
        }
        // The bilinear cell of the last row reaches past the border even
        // without motion: artistic-videos marks it unreliable.
        assert!(c[(h - 1) * w + 5] < 0.3);
    }

    #[test]
    fn a_flow_back_that_disagrees_marks_disocclusion_which_the_blur_spreads() {
        let (w, h) = (24, 16);
        let fwd = field(w, h, |_, _| (1.0, 1.0));
        // The flow back is wrong in a square: those pixels do not round-trip.
        let bwd = field(w, h, |x, y| {
            if (9..13).contains(&x) && (6..10).contains(&y) {
                (3.0, 3.0)
            } else {
                (-1.0, -1.0)
            }
        });
        let c = consistency(&fwd, &bwd).unwrap();
        // Pixels landing inside the square (x+1 in 9..13) are disoccluded…
        assert_eq!(c[6 * w + 9], 0.0);
        // …and their −255 pulls neighbours down, more than a 0 would.
        let near = c[6 * w + 6];
        assert!(near < 1.0, "{near}");
        assert!((c[2 * w + 2] - 1.0).abs() < 1e-6);
        // The threshold: no flow here, a flow back of length d there:
        // disoccluded once d² ≥ 0.01 d² + 0.5.
        let at = |d: f32| {
            let f = field(w, h, |_, _| (0.0, 0.0));
            let b = field(w, h, |_, _| (d, 0.0));
            consistency(&f, &b).unwrap()[8 * w + 12]
        };
        assert_eq!(at(0.5f32.sqrt() * 1.01), 0.0);
        assert!((at(0.5f32.sqrt() * 0.98) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn motion_boundaries_get_zero() {
        let (w, h) = (24, 16);
        // Left half still, right half moving down by 3 px: a vertical motion
        // edge at x = 12 where the flow back agrees everywhere.
        let fwd = field(w, h, |x, _| if x < 12 { (0.0, 0.0) } else { (0.0, 3.0) });
        let bwd = field(w, h, |x, _| if x < 12 { (0.0, 0.0) } else { (0.0, -3.0) });
        let c = consistency(&fwd, &bwd).unwrap();
        // |∂v/∂x|² = (3/2)² at x = 11 and 12, above 0.01 |w̃|² + 0.002
        // (0.002 and 0.092): both marked 0, then blurred with the 1s beside.
        let g = gaussian();
        let want = (g[0] + g[1] + g[0]) * 255.0 / 255.0;
        assert!(
            (c[5 * w + 11] - want).abs() < 1e-5,
            "{} vs {want}",
            c[5 * w + 11]
        );
        assert!((c[5 * w + 12] - want).abs() < 1e-5);
        assert!((c[5 * w + 3] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn mismatched_sizes_are_refused() {
        let a = field(4, 4, |_, _| (0.0, 0.0));
        let b = field(5, 4, |_, _| (0.0, 0.0));
        assert!(consistency(&a, &b).is_err());
    }
}
