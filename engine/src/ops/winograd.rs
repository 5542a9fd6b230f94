//! Winograd F(2×2, 3×3) for the 3×3, stride 1, padding 1 convolutions
//! (Lavin & Gray 2016): 16 multiplies per 2×2 output tile and channel pair
//! instead of 36, i.e. 2.25× fewer than im2col + gemm.
//!
//! `Y = Aᵀ [ Σ_c (G g Gᵀ) ⊙ (Bᵀ d B) ] A` per 4×4 input patch `d`. The sum over
//! input channels is 16 matrix products `U_ξ (C_out×C_in) · V_ξ (C_in×tiles)`,
//! one per position ξ of the 4×4 transformed tile. The image is processed in
//! bands of tile rows whose transformed input and output stay a few MB; the
//! 16 products of a band run in parallel (one `gemm` each, single-threaded),
//! so the work splits evenly over the cores and the result does not depend
//! on thread timing. Bias and ReLU are applied in the output transform.

use rayon::prelude::*;

use super::cpu::Elem;

/// Bytes of transformed input + output per band.
const BAND_BYTES: usize = 6 << 20;

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: used only to hand disjoint regions of one buffer to rayon tasks.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

/// `U[ξ][o][c] = (G g_oc Gᵀ)[ξ]` for `w: (C_out, C_in, 3, 3)`.
fn transform_weights<T: Elem>(w: &[T], c_out: usize, c_in: usize) -> Vec<T> {
    let zero = T::from_f64(0.0);
    let half = T::from_f64(0.5);
    let plane = c_out * c_in;
    let mut u = vec![zero; 16 * plane];
    let ptr = SendPtr(u.as_mut_ptr());
    (0..c_out).into_par_iter().for_each(|o| {
        for c in 0..c_in {
            let g = &w[(o * c_in + c) * 9..(o * c_in + c) * 9 + 9];
            // t = G g (4×3), then u = t Gᵀ (4×4).
            let mut t = [[zero; 3]; 4];
            for k in 0..3 {
                let (g0, g1, g2) = (g[k], g[3 + k], g[6 + k]);
                t[0][k] = g0;
                t[1][k] = (g0 + g1 + g2) * half;
                t[2][k] = (g0 - g1 + g2) * half;
                t[3][k] = g2;
            }
            for (r, row) in t.iter().enumerate() {
                let (a, b, cc) = (row[0], row[1], row[2]);
                let vals = [a, (a + b + cc) * half, (a - b + cc) * half, cc];
                for (s, v) in vals.into_iter().enumerate() {
                    // SAFETY: index < 16·plane; each (o, c) writes its own 16 slots.
                    unsafe { *ptr.get().add((r * 4 + s) * plane + o * c_in + c) = v };
                }
            }
        }
    });
    u
}

/// `relu?(conv(x, w) + b)`: `x: (C_in, H, W)`, `w: (C_out, C_in·9)` row-major.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_winograd<T: Elem>(
    x: &[T],
    c_in: usize,
    h: usize,
    w: usize,
    wt: &[T],
    c_out: usize,
    bias: Option<&[T]>,
    relu: bool,
) -> Vec<T> {
    let zero = T::from_f64(0.0);
    let hw = h * w;
    let mut out = vec![zero; c_out * hw];
    if hw == 0 || c_out == 0 {
        return out;
    }
    let u = transform_weights(wt, c_out, c_in);
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let per_tile = 16 * (c_in + c_out) * std::mem::size_of::<T>();
    let band_rows = (BAND_BYTES / (per_tile * tw)).clamp(1, th);
    let max_tb = band_rows * tw;
    let mut v = vec![zero; c_in * 16 * max_tb];
    let mut m = vec![zero; c_out * 16 * max_tb];
    let plane = c_out * c_in;
    let mut ty0 = 0;
    while ty0 < th {
        let rows = band_rows.min(th - ty0);
        let tb = rows * tw;
        // Input transform: V[c][ξ][t] = (Bᵀ d B)[ξ].
        v[..c_in * 16 * tb]
            .par_chunks_mut(16 * tb)
            .enumerate()
            .for_each(|(c, vc)| {
                input_transform(&x[c * hw..(c + 1) * hw], h, w, ty0, rows, tw, vc, tb);
            });
        // 16 products M_ξ = U_ξ · V_ξ, written to M[o][ξ][t].
        let mp = SendPtr(m.as_mut_ptr());
        (0..16usize).into_par_iter().for_each(|xi| {
            // SAFETY: M_ξ is C_out rows of stride 16·tb at column offset ξ·tb with tb
            // columns, disjoint for distinct ξ; U_ξ is C_out × C_in; V_ξ is C_in × tb
            // with row stride 16·tb.
            unsafe {
                gemm::gemm(
                    c_out,
                    tb,
                    c_in,
                    mp.get().add(xi * tb),
                    1,
                    (16 * tb) as isize,
                    false,
                    u.as_ptr().add(xi * plane),
                    1,
                    c_in as isize,
                    v.as_ptr().add(xi * tb),
                    1,
                    (16 * tb) as isize,
                    zero,
                    T::from_f64(1.0),
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
        // Output transform, bias and ReLU.
        out.par_chunks_mut(hw).enumerate().for_each(|(o, dst)| {
            let b = bias.map_or(zero, |b| b[o]);
            output_transform(
                &m[o * 16 * tb..(o + 1) * 16 * tb],
                h,
                w,
                ty0,
                rows,
                tw,
                tb,
                b,
                relu,
                dst,
            );
        });
        ty0 += rows;
    }
    out
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn input_transform<T: Elem>(
    p: &[T],
    h: usize,
    w: usize,
    ty0: usize,
    rows: usize,
    tw: usize,
    vc: &mut [T],
    tb: usize,
) {
    let zero = T::from_f64(0.0);
    for r in 0..rows {
        let y0 = 2 * (ty0 + r) as isize - 1;
        for j in 0..tw {
            let x0 = 2 * j as isize - 1;
            let mut d = [[zero; 4]; 4];
            if y0 >= 0 && y0 + 4 <= h as isize && x0 >= 0 && x0 + 4 <= w as isize {
                for (a, row) in d.iter_mut().enumerate() {
                    let s = (y0 as usize + a) * w + x0 as usize;
                    row.copy_from_slice(&p[s..s + 4]);
                }
            } else {
                for (a, row) in d.iter_mut().enumerate() {
                    let yy = y0 + a as isize;
                    if yy < 0 || yy >= h as isize {
                        continue;
                    }
                    for (b, e) in row.iter_mut().enumerate() {
                        let xx = x0 + b as isize;
                        if xx >= 0 && xx < w as isize {
                            *e = p[yy as usize * w + xx as usize];
                        }
                    }
                }
            }
            // Bᵀ d: rows.
            let mut t = [[zero; 4]; 4];
            for k in 0..4 {
                t[0][k] = d[0][k] - d[2][k];
                t[1][k] = d[1][k] + d[2][k];
                t[2][k] = d[2][k] - d[1][k];
                t[3][k] = d[1][k] - d[3][k];
            }
            // (Bᵀ d) B: columns.
            let ti = r * tw + j;
            for (a, row) in t.iter().enumerate() {
                let vals = [
                    row[0] - row[2],
                    row[1] + row[2],
                    row[2] - row[1],
                    row[1] - row[3],
                ];
                for (b, val) in vals.into_iter().enumerate() {
                    vc[(a * 4 + b) * tb + ti] = val;
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn output_transform<T: Elem>(
    mo: &[T],
    h: usize,
    w: usize,
    ty0: usize,
    rows: usize,
    tw: usize,
    tb: usize,
    b: T,
    relu: bool,
    dst: &mut [T],
) {
    let zero = T::from_f64(0.0);
    for r in 0..rows {
        let y = 2 * (ty0 + r);
        for j in 0..tw {
            let ti = r * tw + j;
            let mut mm = [[zero; 4]; 4];
            for (a, row) in mm.iter_mut().enumerate() {
                for (bb, e) in row.iter_mut().enumerate() {
                    *e = mo[(a * 4 + bb) * tb + ti];
                }
            }
            // Aᵀ m: 2×4.
            let mut t = [[zero; 4]; 2];
            for k in 0..4 {
                t[0][k] = mm[0][k] + mm[1][k] + mm[2][k];
                t[1][k] = mm[1][k] - mm[2][k] - mm[3][k];
            }
            let x = 2 * j;
            for (a, row) in t.iter().enumerate() {
                if y + a >= h {
                    break;
                }
                let vals = [row[0] + row[1] + row[2], row[1] - row[2] - row[3]];
                for (bb, val) in vals.into_iter().enumerate() {
                    if x + bb >= w {
                        break;
                    }
                    let v = val + b;
                    dst[(y + a) * w + x + bb] = if relu && v <= zero { zero } else { v };
                }
            }
        }
    }
}
