//! Keeping the content's colours (Gatys et al., "Preserving Color in Neural
//! Artistic Style Transfer", 2016): luminance-only transfer, and matching the
//! style's colour statistics to the content's before optimising.

use crate::image::Image;

pub use stylefarm_spec::OriginalColors;

/// The output's luminance (Y of BT.601 YUV) with `content`'s U and V.
pub fn transfer_luminance(output: &Image, content: &Image) -> Image {
    let content = content.resize(output.width, output.height);
    let n = output.width * output.height;
    let mut data = vec![0f32; 3 * n];
    for i in 0..n {
        let (r, g, b) = (output.data[i], output.data[n + i], output.data[2 * n + i]);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        let (cr, cg, cb) = (
            content.data[i],
            content.data[n + i],
            content.data[2 * n + i],
        );
        let u = -0.14713 * cr - 0.28886 * cg + 0.436 * cb;
        let v = 0.615 * cr - 0.51499 * cg - 0.10001 * cb;
        data[i] = (y + 1.13983 * v).clamp(0.0, 1.0);
        data[n + i] = (y - 0.39465 * u - 0.58060 * v).clamp(0.0, 1.0);
        data[2 * n + i] = (y + 2.03211 * u).clamp(0.0, 1.0);
    }
    Image {
        width: output.width,
        height: output.height,
        data,
    }
}

/// `style` recoloured so that its pixels' mean and covariance equal
/// `content`'s: `x' = L_c L_s⁻¹ (x − μ_s) + μ_c` with Cholesky factors `L`.
pub fn match_colors(style: &Image, content: &Image) -> Image {
    let (ms, cs) = stats(style);
    let (mc, cc) = stats(content);
    let ls = cholesky(cs);
    let lc = cholesky(cc);
    let a = mul(lc, inverse_lower(ls));
    let n = style.width * style.height;
    let mut data = vec![0f32; 3 * n];
    for i in 0..n {
        let x = [0, 1, 2].map(|c| style.data[c * n + i] as f64 - ms[c]);
        for r in 0..3 {
            let v = a[r][0] * x[0] + a[r][1] * x[1] + a[r][2] * x[2] + mc[r];
            data[r * n + i] = v.clamp(0.0, 1.0) as f32;
        }
    }
    Image {
        width: style.width,
        height: style.height,
        data,
    }
}

type M3 = [[f64; 3]; 3];

fn stats(img: &Image) -> ([f64; 3], M3) {
    let n = img.width * img.height;
    let mut mean = [0f64; 3];
    for (c, m) in mean.iter_mut().enumerate() {
        *m = img.data[c * n..(c + 1) * n]
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / n as f64;
    }
    let mut cov = [[0f64; 3]; 3];
    for i in 0..n {
        let x = [0, 1, 2].map(|c| img.data[c * n + i] as f64 - mean[c]);
        for r in 0..3 {
            for c in 0..3 {
                cov[r][c] += x[r] * x[c];
            }
        }
    }
    for row in cov.iter_mut() {
        for v in row.iter_mut() {
            *v /= n as f64;
        }
    }
    // A flat-coloured image has a singular covariance: regularise.
    for (i, row) in cov.iter_mut().enumerate() {
        row[i] += 1e-5;
    }
    (mean, cov)
}

fn cholesky(a: M3) -> M3 {
    let mut l = [[0f64; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            l[i][j] = if i == j {
                (a[i][i] - s).max(1e-12).sqrt()
            } else {
                (a[i][j] - s) / l[j][j]
            };
        }
    }
    l
}

#[allow(clippy::needless_range_loop)] // index form mirrors the textbook recurrence
fn inverse_lower(l: M3) -> M3 {
    let mut inv = [[0f64; 3]; 3];
    for i in 0..3 {
        inv[i][i] = 1.0 / l[i][i];
        for j in 0..i {
            let s: f64 = (j..i).map(|k| l[i][k] * inv[k][j]).sum();
            inv[i][j] = -s / l[i][i];
        }
    }
    inv
}

fn mul(a: M3, b: M3) -> M3 {
    let mut c = [[0f64; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient_image(w: usize, h: usize, f: impl Fn(usize, usize, usize) -> f32) -> Image {
        let n = w * h;
        let mut data = vec![0f32; 3 * n];
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    data[c * n + y * w + x] = f(c, x, y);
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
    fn matched_style_has_content_statistics() {
        let style = gradient_image(16, 12, |c, x, y| {
            ((x * (c + 1) + y * 3) % 17) as f32 / 20.0 + 0.05
        });
        let content = gradient_image(10, 10, |c, x, y| {
            0.3 + 0.04 * ((x + 2 * y + c * 5) % 9) as f32
        });
        let out = match_colors(&style, &content);
        let (m_out, c_out) = stats(&out);
        let (m_c, c_c) = stats(&content);
        for r in 0..3 {
            assert!(
                (m_out[r] - m_c[r]).abs() < 1e-3,
                "mean {r}: {} vs {}",
                m_out[r],
                m_c[r]
            );
            for c in 0..3 {
                assert!((c_out[r][c] - c_c[r][c]).abs() < 1e-3, "cov {r}{c}");
            }
        }
    }

    #[test]
    fn luminance_keeps_output_brightness_and_content_chroma() {
        let output = gradient_image(8, 8, |_, x, _| x as f32 / 8.0); // gray ramp
        let content = gradient_image(8, 8, |c, _, _| if c == 0 { 0.6 } else { 0.3 }); // reddish
        let out = transfer_luminance(&output, &content);
        let n = 64;
        for i in [9, 27, 45] {
            let y_out = 0.299 * out.data[i] + 0.587 * out.data[n + i] + 0.114 * out.data[2 * n + i];
            let y_src = output.data[i];
            assert!((y_out - y_src).abs() < 0.02, "luma {y_out} vs {y_src}");
            assert!(out.data[i] > out.data[n + i], "red chroma kept at {i}");
        }
    }
}
