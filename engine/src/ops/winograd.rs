//! Winograd F(2×2, 3×3) for the 3×3, stride 1, padding 1 convolutions
//! (Lavin & Gray 2016): 16 multiplies per 2×2 output tile and channel pair
//! instead of 36, i.e. 2.25× fewer than im2col + gemm.
//!
//! `Y = Aᵀ [ Σ_c (G g Gᵀ) ⊙ (Bᵀ d B) ] A` per 4×4 input patch `d`. The sum over
//! input channels is 16 matrix products `U_ξ (C_out×C_in) · V_ξ (C_in×tiles)`,
//! one per position ξ of the 4×4 transformed tile. `U` depends only on the
//! weights and is computed once per layer ([`transform_weights`], cached by
//! the caller). The image is processed in bands of tile rows; the 16 products
//! of a band run in parallel (one single-threaded `gemm` each), so the work
//! splits evenly over the cores and the result does not depend on thread
//! timing.
//!
//! The transforms run a whole row of tiles at a time on contiguous vectors
//! (one tile per SIMD lane), compiled for AVX2 + FMA where the CPU has them:
//! written tile by tile they cost as much as the products themselves. Bias
//! and ReLU are applied in the output transform.

use rayon::prelude::*;

use super::cpu::Elem;

/// Bytes of transformed input + output per band: big enough that each of
/// the 16 products has a few thousand columns, small enough for the L3 cache.
const BAND_BYTES: usize = 16 << 20;

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
pub(crate) fn transform_weights<T: Elem>(w: &[T], c_out: usize, c_in: usize) -> Vec<T> {
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

/// `relu?(conv(x, w) + b)`: `x: (C_in, H, W)`, `u` from [`transform_weights`].
#[allow(clippy::too_many_arguments)] // a kernel on raw slices: shapes travel as plain numbers
pub(crate) fn conv_winograd<T: Elem>(
    x: &[T],
    c_in: usize,
    h: usize,
    w: usize,
    u: &[T],
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
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let per_tile = 16 * (c_in + c_out) * std::mem::size_of::<T>();
    let band_rows = (BAND_BYTES / (per_tile * tw)).clamp(1, th);
    let max_tb = band_rows * tw;
    let mut v = vec![zero; 16 * c_in * max_tb];
    let mut m = vec![zero; 16 * c_out * max_tb];
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
                let p = &x[c * hw..(c + 1) * hw];
                dispatch!(input_transform(p, h, w, ty0, rows, tw, vc));
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
        // Output transform, bias and ReLU, into rows 2·ty0 .. of each plane.
        out.par_chunks_mut(hw).enumerate().for_each(|(o, dst)| {
            let b = bias.map_or(zero, |b| b[o]);
            let mo = &m[o * 16 * tb..(o + 1) * 16 * tb];
            dispatch!(output_transform(mo, h, w, ty0, rows, tw, b, relu, dst));
        });
        ty0 += rows;
    }
    out
}

/// Runs a transform compiled for AVX2 + FMA when the CPU has them; the same
/// code for the baseline target otherwise.
macro_rules! dispatch {
    ($f:ident ( $($arg:expr),* )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features the function is compiled for.
                unsafe { avx2::$f($($arg),*) }
            } else {
                $f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f($($arg),*)
        }
    }};
}
use dispatch;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Elem;

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn input_transform<T: Elem>(
        p: &[T],
        h: usize,
        w: usize,
        ty0: usize,
        rows: usize,
        tw: usize,
        vc: &mut [T],
    ) {
        super::input_transform(p, h, w, ty0, rows, tw, vc)
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn output_transform<T: Elem>(
        mo: &[T],
        h: usize,
        w: usize,
        ty0: usize,
        rows: usize,
        tw: usize,
        b: T,
        relu: bool,
        dst: &mut [T],
    ) {
        super::output_transform(mo, h, w, ty0, rows, tw, b, relu, dst)
    }
}

/// `Bᵀ d B` for every tile of band rows `ty0..ty0+rows` of one channel plane
/// `p: (H, W)`, into `vc: 16 × (rows·tw)` (row ξ holds that position of every tile).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn input_transform<T: Elem>(
    p: &[T],
    h: usize,
    w: usize,
    ty0: usize,
    rows: usize,
    tw: usize,
    vc: &mut [T],
) {
    let zero = T::from_f64(0.0);
    let tb = rows * tw;
    // Tile j's patch covers padded columns 2j..2j+4 (padded index = x + 1),
    // split into even (`e`) and odd (`o`) columns: d0 = e[j], d1 = o[j],
    // d2 = e[j+1], d3 = o[j+1].
    let n = tw + 1;
    let mut d = vec![zero; 4 * 2 * n];
    let mut t = vec![zero; 4 * 2 * n];
    for r in 0..rows {
        // Input rows y0..y0+4 of this tile row, deinterleaved, zero outside.
        let y0 = 2 * (ty0 + r) as isize - 1;
        for a in 0..4 {
            let (e, o) = d[a * 2 * n..(a + 1) * 2 * n].split_at_mut(n);
            let y = y0 + a as isize;
            if y < 0 || y >= h as isize {
                e.fill(zero);
                o.fill(zero);
                continue;
            }
            let src = &p[y as usize * w..(y as usize + 1) * w];
            // padded column 2k = x 2k-1, padded column 2k+1 = x 2k.
            e[0] = zero;
            for k in 1..n {
                e[k] = if 2 * k - 1 < w { src[2 * k - 1] } else { zero };
            }
            for k in 0..n {
                o[k] = if 2 * k < w { src[2 * k] } else { zero };
            }
        }
        // Bᵀ d over the rows: t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3.
        {
            let (d0, rest) = d.split_at(2 * n);
            let (d1, rest) = rest.split_at(2 * n);
            let (d2, d3) = rest.split_at(2 * n);
            let (t0, rest) = t.split_at_mut(2 * n);
            let (t1, rest) = rest.split_at_mut(2 * n);
            let (t2, t3) = rest.split_at_mut(2 * n);
            for k in 0..2 * n {
                t0[k] = d0[k] - d2[k];
                t1[k] = d1[k] + d2[k];
                t2[k] = d2[k] - d1[k];
                t3[k] = d1[k] - d3[k];
            }
        }
        // (Bᵀ d) B over the columns, one output row ξ = 4a + b at a time.
        let base = r * tw;
        for a in 0..4 {
            let (e, o) = t[a * 2 * n..(a + 1) * 2 * n].split_at(n);
            let (v0, rest) = vc.split_at_mut((4 * a + 1) * tb);
            let v0 = &mut v0[4 * a * tb + base..4 * a * tb + base + tw];
            let (v1, rest) = rest.split_at_mut(tb);
            let (v2, v3) = rest.split_at_mut(tb);
            let (v1, v2, v3) = (
                &mut v1[base..base + tw],
                &mut v2[base..base + tw],
                &mut v3[base..base + tw],
            );
            for j in 0..tw {
                v0[j] = e[j] - e[j + 1];
                v1[j] = o[j] + e[j + 1];
                v2[j] = e[j + 1] - o[j];
                v3[j] = o[j] - o[j + 1];
            }
        }
    }
}

/// `Aᵀ m A + b` (and ReLU) for every tile of band rows `ty0..ty0+rows`, from
/// `mo: 16 × (rows·tw)` into the output plane `dst: (H, W)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_transform<T: Elem>(
    mo: &[T],
    h: usize,
    w: usize,
    ty0: usize,
    rows: usize,
    tw: usize,
    b: T,
    relu: bool,
    dst: &mut [T],
) {
    let zero = T::from_f64(0.0);
    let tb = rows * tw;
    // s[a][c][j]: Aᵀ applied over the columns of row a of tile j.
    let mut s = vec![zero; 8 * tw];
    let mut y = vec![zero; 2 * tw];
    for r in 0..rows {
        let base = r * tw;
        let m = |xi: usize| &mo[xi * tb + base..xi * tb + base + tw];
        for a in 0..4 {
            let (m0, m1, m2, m3) = (m(4 * a), m(4 * a + 1), m(4 * a + 2), m(4 * a + 3));
            let (s0, s1) = s[2 * a * tw..(2 * a + 2) * tw].split_at_mut(tw);
            for j in 0..tw {
                s0[j] = m0[j] + m1[j] + m2[j];
                s1[j] = m1[j] - m2[j] - m3[j];
            }
        }
        // Then over the rows: output row 0 = s0 + s1 + s2, row 1 = s1 - s2 - s3.
        for dy in 0..2 {
            let yy = 2 * (ty0 + r) + dy;
            if yy >= h {
                break;
            }
            for c in 0..2 {
                let yc = &mut y[c * tw..(c + 1) * tw];
                let s_at = |a: usize| &s[(2 * a + c) * tw..(2 * a + c + 1) * tw];
                let (s0, s1, s2, s3) = (s_at(0), s_at(1), s_at(2), s_at(3));
                if dy == 0 {
                    for j in 0..tw {
                        yc[j] = s0[j] + s1[j] + s2[j] + b;
                    }
                } else {
                    for j in 0..tw {
                        yc[j] = s1[j] - s2[j] - s3[j] + b;
                    }
                }
            }
            let row = &mut dst[yy * w..(yy + 1) * w];
            let (y0, y1) = y.split_at(tw);
            for j in 0..w / 2 {
                row[2 * j] = y0[j];
                row[2 * j + 1] = y1[j];
            }
            if w % 2 == 1 {
                row[w - 1] = y0[tw - 1];
            }
            if relu {
                for v in row.iter_mut() {
                    if *v <= zero {
                        *v = zero;
                    }
                }
            }
        }
    }
}
