//! Measures of an assembled picture, for tests and benchmarks: how visible
//! the tile seams are, and how far it is from a reference rendering.

use stylefarm_engine::Image;

/// Mean gradient magnitude across the columns `xs` and rows `ys` (the tile
/// borders: the step from `x - 1` to `x`) ÷ the mean everywhere else. About
/// 1 when the borders look like the rest of the picture.
pub fn seam_ratio(img: &Image, xs: &[usize], ys: &[usize]) -> f64 {
    let (w, h) = (img.width, img.height);
    let n = w * h;
    let (mut seam, mut seam_n, mut rest, mut rest_n) = (0f64, 0f64, 0f64, 0f64);
    let mut add = |on_seam: bool, g: f64| {
        if on_seam {
            (seam, seam_n) = (seam + g, seam_n + 1.0);
        } else {
            (rest, rest_n) = (rest + g, rest_n + 1.0);
        }
    };
    for c in 0..3 {
        let p = &img.data[c * n..(c + 1) * n];
        for y in 0..h {
            for x in 0..w {
                if x > 0 {
                    add(
                        xs.contains(&x),
                        f64::from((p[y * w + x] - p[y * w + x - 1]).abs()),
                    );
                }
                if y > 0 {
                    add(
                        ys.contains(&y),
                        f64::from((p[y * w + x] - p[(y - 1) * w + x]).abs()),
                    );
                }
            }
        }
    }
    (seam / seam_n.max(1.0)) / (rest / rest_n.max(1.0)).max(f64::MIN_POSITIVE)
}

/// Mean absolute difference of two pictures of the same size, in 0..1.
pub fn mean_abs_diff(a: &Image, b: &Image) -> Option<f64> {
    if (a.width, a.height) != (b.width, b.height) {
        return None;
    }
    let sum: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum();
    Some(sum / a.data.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, f: impl Fn(usize, usize) -> f32) -> Image {
        let mut data = Vec::with_capacity(3 * w * h);
        for _ in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    data.push(f(x, y));
                }
            }
        }
        Image {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn a_step_on_the_border_shows_and_a_smooth_ramp_does_not() {
        let ramp = image(16, 8, |x, y| (x + y) as f32 / 32.0);
        assert!((seam_ratio(&ramp, &[8], &[4]) - 1.0).abs() < 1e-9);
        let step = image(16, 8, |x, _| if x < 8 { 0.0 } else { 0.5 });
        assert!(seam_ratio(&step, &[8], &[]) > 10.0);
        assert_eq!(mean_abs_diff(&ramp, &ramp), Some(0.0));
        let shifted = image(16, 8, |x, y| (x + y) as f32 / 32.0 + 0.25);
        assert!((mean_abs_diff(&ramp, &shifted).unwrap() - 0.25).abs() < 1e-6);
        assert_eq!(mean_abs_diff(&ramp, &image(8, 8, |_, _| 0.0)), None);
    }
}
