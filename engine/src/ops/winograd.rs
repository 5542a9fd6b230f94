//! Winograd F(4×4, 3×3) for the 3×3, stride 1, padding 1 convolutions
//! (Lavin & Gray 2016): 36 multiplies per 4×4 output tile and channel pair
//! instead of 144, i.e. 4× fewer than im2col + gemm.
//!
//! `Y = Aᵀ [ Σ_c (G g Gᵀ) ⊙ (Bᵀ d B) ] A` per 6×6 input patch `d` (points
//! 0, ±1, ±2, ∞). The sum over input channels is 36 matrix products
//! `U_ξ (C_out×C_in) · V_ξ (C_in×tiles)`, one per position ξ of the 6×6
//! transformed tile. `U` depends only on the weights and is computed once per
//! layer ([`transform_weights`], cached by the caller). The image is processed
//! in bands of tile rows; the 36 products of a band run in parallel (one
//! single-threaded `gemm` each), so the work splits evenly over the cores and
//! the result does not depend on thread timing.
//!
//! The transforms run a whole row of tiles at a time on contiguous vectors
//! (one tile per SIMD lane), compiled for AVX2 + FMA where the CPU has them:
//! written tile by tile they cost as much as the products themselves. Bias
//! and ReLU are applied in the output transform.
//!
//! Rounding: in f32 the result differs from direct convolution by about
//! 1e-6 of the activations' magnitude (`winograd_f32_matches_f64`); the f64
//! gradient tests see no difference.

use rayon::prelude::*;

use super::cpu::Elem;

/// Side of the transformed tile: 4 outputs + 2 for the 3×3 kernel.
const A: usize = 6;
/// Output tile side.
const M: usize = 4;
/// Positions per transformed tile: products per band.
pub(crate) const XI: usize = A * A;

/// Bytes of transformed input + output per band: big enough that each of
/// the 36 products has a thousand or more columns, small enough for the L3 cache.
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

/// `G g`: the kernel transform of three taps.
#[inline(always)]
fn g6<T: Elem>(g0: T, g1: T, g2: T) -> [T; A] {
    let f = T::from_f64;
    let sum = g0 + g2;
    [
        g0 * f(0.25),
        (sum + g1) * f(-1.0 / 6.0),
        (sum - g1) * f(-1.0 / 6.0),
        g0 * f(1.0 / 24.0) + g1 * f(1.0 / 12.0) + g2 * f(1.0 / 6.0),
        g0 * f(1.0 / 24.0) - g1 * f(1.0 / 12.0) + g2 * f(1.0 / 6.0),
        g2,
    ]
}

/// `U[ξ][o][c] = (G g_oc Gᵀ)[ξ]` for `w: (C_out, C_in, 3, 3)`.
pub(crate) fn transform_weights<T: Elem>(w: &[T], c_out: usize, c_in: usize) -> Vec<T> {
    let plane = c_out * c_in;
    let mut u = vec![T::from_f64(0.0); XI * plane];
    let ptr = SendPtr(u.as_mut_ptr());
    (0..c_out).into_par_iter().for_each(|o| {
        for c in 0..c_in {
            let g = &w[(o * c_in + c) * 9..(o * c_in + c) * 9 + 9];
            // t = G g (6×3): the transform of each kernel column.
            let [c0, c1, c2] = std::array::from_fn(|k| g6(g[k], g[3 + k], g[6 + k]));
            for (r, ((a, b), cc)) in c0.into_iter().zip(c1).zip(c2).enumerate() {
                let row = g6(a, b, cc);
                for (s, v) in row.into_iter().enumerate() {
                    // SAFETY: index < 36·plane; each (o, c) writes its own 36 slots.
                    unsafe { *ptr.get().add((r * A + s) * plane + o * c_in + c) = v };
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
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let per_tile = XI * (c_in + c_out) * std::mem::size_of::<T>();
    let band_rows = (BAND_BYTES / (per_tile * tw)).clamp(1, th);
    let max_tb = band_rows * tw;
    let mut v = vec![zero; XI * c_in * max_tb];
    let mut m = vec![zero; XI * c_out * max_tb];
    let plane = c_out * c_in;
    let mut ty0 = 0;
    while ty0 < th {
        let rows = band_rows.min(th - ty0);
        let tb = rows * tw;
        // Input transform: V[c][ξ][t] = (Bᵀ d B)[ξ].
        v[..c_in * XI * tb]
            .par_chunks_mut(XI * tb)
            .enumerate()
            .for_each(|(c, vc)| {
                let p = &x[c * hw..(c + 1) * hw];
                dispatch!(input_transform(p, h, w, ty0, rows, tw, vc));
            });
        // 36 products M_ξ = U_ξ · V_ξ, written to M[o][ξ][t].
        let mp = SendPtr(m.as_mut_ptr());
        (0..XI).into_par_iter().for_each(|xi| {
            // SAFETY: M_ξ is C_out rows of stride 36·tb at column offset ξ·tb with tb
            // columns, disjoint for distinct ξ; U_ξ is C_out × C_in; V_ξ is C_in × tb
            // with row stride 36·tb.
            unsafe {
                gemm::gemm(
                    c_out,
                    tb,
                    c_in,
                    mp.get().add(xi * tb),
                    1,
                    (XI * tb) as isize,
                    false,
                    u.as_ptr().add(xi * plane),
                    1,
                    c_in as isize,
                    v.as_ptr().add(xi * tb),
                    1,
                    (XI * tb) as isize,
                    zero,
                    T::from_f64(1.0),
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
        // Output transform, bias and ReLU, into rows 4·ty0 .. of each plane.
        out.par_chunks_mut(hw).enumerate().for_each(|(o, dst)| {
            let b = bias.map_or(zero, |b| b[o]);
            let mo = &m[o * XI * tb..(o + 1) * XI * tb];
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

/// `v = Bᵀ d` elementwise over six vectors of equal length.
#[inline(always)]
fn bt<T: Elem>(d: [&[T]; A], v: [&mut [T]; A]) {
    let n = v[0].len();
    let f = T::from_f64;
    let (c2, c4, c5) = (f(2.0), f(4.0), f(5.0));
    let [d0, d1, d2, d3, d4, d5] = d.map(|d| &d[..n]);
    let [v0, v1, v2, v3, v4, v5] = v;
    let (v0, v1, v2, v3, v4, v5) = (
        &mut v0[..n],
        &mut v1[..n],
        &mut v2[..n],
        &mut v3[..n],
        &mut v4[..n],
        &mut v5[..n],
    );
    for j in 0..n {
        let (a0, a1, a2, a3, a4, a5) = (d0[j], d1[j], d2[j], d3[j], d4[j], d5[j]);
        v0[j] = c4 * a0 - c5 * a2 + a4;
        v1[j] = a3 + a4 - c4 * (a1 + a2);
        v2[j] = c4 * (a1 - a2) + a4 - a3;
        v3[j] = c2 * (a3 - a1) + a4 - a2;
        v4[j] = c2 * (a1 - a3) + a4 - a2;
        v5[j] = c4 * a1 - c5 * a3 + a5;
    }
}

/// `y = Aᵀ m` elementwise over six vectors of equal length.
#[inline(always)]
fn at<T: Elem>(m: [&[T]; A], y: [&mut [T]; M]) {
    let n = y[0].len();
    let f = T::from_f64;
    let (c2, c4, c8) = (f(2.0), f(4.0), f(8.0));
    let [m0, m1, m2, m3, m4, m5] = m.map(|m| &m[..n]);
    let [y0, y1, y2, y3] = y;
    let (y0, y1, y2, y3) = (&mut y0[..n], &mut y1[..n], &mut y2[..n], &mut y3[..n]);
    for j in 0..n {
        let (p1, q1) = (m1[j] + m2[j], m1[j] - m2[j]);
        let (p3, q3) = (m3[j] + m4[j], m3[j] - m4[j]);
        y0[j] = m0[j] + p1 + p3;
        y1[j] = q1 + c2 * q3;
        y2[j] = p1 + c4 * p3;
        y3[j] = q1 + c8 * q3 + m5[j];
    }
}

/// `n` consecutive rows of length `len` starting `off` into each
/// `stride`-long row of `buf`.
#[inline(always)]
fn rows_mut<T, const N: usize>(
    buf: &mut [T],
    stride: usize,
    off: usize,
    len: usize,
) -> [&mut [T]; N] {
    let mut it = buf.chunks_mut(stride).map(|r| &mut r[off..off + len]);
    std::array::from_fn(|_| it.next().expect("enough rows"))
}

/// `Bᵀ d B` for every tile of band rows `ty0..ty0+rows` of one channel plane
/// `p: (H, W)`, into `vc: 36 × (rows·tw)` (row ξ holds that position of every tile).
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
    // Tile j's patch covers padded columns 4j..4j+6 (padded index = x + 1).
    // Each padded row is stored as its four phases q = 0..3 (`P_q[k]` =
    // column 4k + q), so that patch column c of every tile is one contiguous
    // vector: P_{c mod 4}[j + c/4].
    let n = tw + 1;
    let mut d = vec![zero; A * 4 * n];
    let mut t = vec![zero; A * 4 * n];
    for r in 0..rows {
        let y0 = (M * (ty0 + r)) as isize - 1;
        for (a, row) in d.chunks_mut(4 * n).enumerate() {
            let y = y0 + a as isize;
            if y < 0 || y >= h as isize {
                row.fill(zero);
                continue;
            }
            let src = &p[y as usize * w..(y as usize + 1) * w];
            let [p0, p1, p2, p3] = rows_mut(row, n, 0, n);
            // Columns 4k-1 .. 4k+2 all inside the row: k in 1..inner.
            let inner = ((w + 1) / 4).max(1);
            for k in 1..inner {
                let s = &src[4 * k - 1..4 * k + 3];
                (p0[k], p1[k], p2[k], p3[k]) = (s[0], s[1], s[2], s[3]);
            }
            for k in (0..1).chain(inner..n) {
                let at = |x: isize| {
                    if x >= 0 && (x as usize) < w {
                        src[x as usize]
                    } else {
                        zero
                    }
                };
                let x = 4 * k as isize - 1;
                (p0[k], p1[k], p2[k], p3[k]) = (at(x), at(x + 1), at(x + 2), at(x + 3));
            }
        }
        // Bᵀ over the patch rows, every column at once.
        {
            let dr: [&[T]; A] = std::array::from_fn(|a| &d[a * 4 * n..(a + 1) * 4 * n]);
            bt(dr, rows_mut(&mut t, 4 * n, 0, 4 * n));
        }
        // Then B over the patch columns, one transformed row a at a time.
        let base = r * tw;
        for a in 0..A {
            let row = &t[a * 4 * n..(a + 1) * 4 * n];
            let ph = |c: usize| &row[(c % 4) * n + c / 4..(c % 4) * n + c / 4 + tw];
            let cols: [&[T]; A] = std::array::from_fn(ph);
            bt(cols, rows_mut(&mut vc[A * a * tb..], tb, base, tw));
        }
    }
}

/// `Aᵀ m A + b` (and ReLU) for every tile of band rows `ty0..ty0+rows`, from
/// `mo: 36 × (rows·tw)` into the output plane `dst: (H, W)`.
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
    // s[a][c]: Aᵀ over the columns of row a of every tile (6 × 4 vectors);
    // y[r][c]: then over the rows (4 × 4 vectors).
    let mut s = vec![zero; A * M * tw];
    let mut y = vec![zero; M * M * tw];
    for r in 0..rows {
        let base = r * tw;
        for a in 0..A {
            let m: [&[T]; A] = std::array::from_fn(|bb| &mo[(A * a + bb) * tb + base..][..tw]);
            at(m, rows_mut(&mut s[a * M * tw..], tw, 0, tw));
        }
        for c in 0..M {
            let sc: [&[T]; A] = std::array::from_fn(|a| &s[(a * M + c) * tw..][..tw]);
            // y rows for column phase c: y[(rr * M + c)].
            let mut it = y.chunks_mut(tw).skip(c).step_by(M);
            let yc: [&mut [T]; M] = std::array::from_fn(|_| it.next().expect("4 rows"));
            at(sc, yc);
        }
        for rr in 0..M {
            let yy = M * (ty0 + r) + rr;
            if yy >= h {
                break;
            }
            let row = &mut dst[yy * w..(yy + 1) * w];
            let yr = &y[rr * M * tw..(rr + 1) * M * tw];
            let (y0, rest) = yr.split_at(tw);
            let (y1, rest) = rest.split_at(tw);
            let (y2, y3) = rest.split_at(tw);
            let full = w / M;
            for (j, o) in row.chunks_exact_mut(M).enumerate() {
                o.copy_from_slice(&[y0[j] + b, y1[j] + b, y2[j] + b, y3[j] + b]);
            }
            for x in full * M..w {
                row[x] = yr[(x % M) * tw + full] + b;
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
