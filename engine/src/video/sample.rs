//! Bilinear sampling along a flow field as a linear operator `S`, and its
//! transpose `Sᵀ`: `S` warps a neighbouring frame onto this one, and `Sᵀ`
//! carries a gradient on the warped image back to the neighbour's pixels.

use candle_core::{DType, Tensor};

use crate::error::Result;
use crate::video::warp::Motion;

/// The four bilinear taps of one output pixel (`None`: its source lies
/// outside the frame and it takes a fill value).
type Taps = Option<[(u32, f32); 4]>;

/// `S` for one motion: output pixel `(x, y)` is the source image sampled at
/// `(x + u, y + v)` bilinearly, Torch `image.warp`'s 'bilinear' + 'pad':
/// a position outside `[0, W−1] × [0, H−1]` takes the fill value, and the
/// neighbours of a position on the last row or column are clamped to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampler {
    width: usize,
    height: usize,
    taps: Vec<Taps>,
}

impl Sampler {
    /// The sampler of `motion`'s flow (its weights play no part).
    pub fn new(motion: &Motion) -> Result<Sampler> {
        let (w, h) = (motion.width, motion.height);
        motion.check(w, h)?;
        let n = w * h;
        let (u, v) = motion.flow.split_at(n);
        let mut taps = Vec::with_capacity(n);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let sx = x as f32 + u[i];
                let sy = y as f32 + v[i];
                if !(sx >= 0.0 && sx <= (w - 1) as f32 && sy >= 0.0 && sy <= (h - 1) as f32) {
                    taps.push(None);
                    continue;
                }
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (ax, ay) = (sx - x0 as f32, sy - y0 as f32);
                let at = |x: usize, y: usize| (y * w + x) as u32;
                taps.push(Some([
                    (at(x0, y0), (1.0 - ax) * (1.0 - ay)),
                    (at(x1, y0), ax * (1.0 - ay)),
                    (at(x0, y1), (1.0 - ax) * ay),
                    (at(x1, y1), ax * ay),
                ]));
            }
        }
        Ok(Sampler {
            width: w,
            height: h,
            taps,
        })
    }

    /// `S x` for planar `x: (C, H, W)`; out-of-frame pixels of channel `c`
    /// take `fill[c]`.
    pub fn apply(&self, x: &[f64], fill: &[f64]) -> Vec<f64> {
        let n = self.width * self.height;
        let mut out = vec![0f64; x.len()];
        for (c, (src, dst)) in x.chunks(n).zip(out.chunks_mut(n)).enumerate() {
            for (d, taps) in dst.iter_mut().zip(&self.taps) {
                *d = match taps {
                    Some(t) => t.iter().map(|&(j, a)| a as f64 * src[j as usize]).sum(),
                    None => fill[c],
                };
            }
        }
        out
    }

    /// `Sᵀ g` for planar `g: (C, H, W)`: each output pixel's value spread
    /// back onto its taps (out-of-frame pixels carry nothing back).
    pub fn transpose(&self, g: &[f64]) -> Vec<f64> {
        let n = self.width * self.height;
        let mut out = vec![0f64; g.len()];
        for (src, dst) in g.chunks(n).zip(out.chunks_mut(n)) {
            for (s, taps) in src.iter().zip(&self.taps) {
                if let Some(t) = taps {
                    for &(j, a) in t {
                        dst[j as usize] += a as f64 * s;
                    }
                }
            }
        }
        out
    }

    /// The image `x` `(C, H, W)` whose samples best match `target` where
    /// `weights` `(H, W)` trust them, staying near `guess` elsewhere:
    /// `argmin Σ c (S x − target)² + λ |x − guess|²`, by conjugate gradients
    /// on the normal equations `(Sᵀ C S + λ I) x = Sᵀ C target + λ guess`
    /// (`iterations` steps from `guess`). Undoes the blur of warping an
    /// image back and forth, which a plain warp of `target` leaves in.
    pub fn preimage(
        &self,
        target: &[f64],
        weights: &[f32],
        guess: &[f64],
        lambda: f64,
        iterations: usize,
    ) -> Vec<f64> {
        let n = self.width * self.height;
        let masked = |v: &mut Vec<f64>| {
            for (i, x) in v.iter_mut().enumerate() {
                *x *= weights[i % n] as f64;
            }
        };
        let normal = |x: &[f64]| {
            let mut sx = self.apply(x, &[0.0; 3]);
            masked(&mut sx);
            let mut out = self.transpose(&sx);
            for (o, xi) in out.iter_mut().zip(x) {
                *o += lambda * xi;
            }
            out
        };
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let mut ct = target.to_vec();
        masked(&mut ct);
        let mut b = self.transpose(&ct);
        for (bi, g) in b.iter_mut().zip(guess) {
            *bi += lambda * g;
        }
        let mut x = guess.to_vec();
        let ax = normal(&x);
        let mut r: Vec<f64> = b.iter().zip(&ax).map(|(p, q)| p - q).collect();
        let mut p = r.clone();
        let mut rr = dot(&r, &r);
        for _ in 0..iterations {
            if rr < 1e-20 {
                break;
            }
            let ap = normal(&p);
            let a = rr / dot(&p, &ap);
            for i in 0..x.len() {
                x[i] += a * p[i];
                r[i] -= a * ap[i];
            }
            let next = dot(&r, &r);
            for i in 0..p.len() {
                p[i] = r[i] + next / rr * p[i];
            }
            rr = next;
        }
        x
    }

    /// [`Sampler::apply`] on a network input `(3, H, W)` with fill 0, the
    /// mean pixel in input units.
    pub(crate) fn apply_tensor(&self, x: &Tensor) -> Result<Tensor> {
        self.map_tensor(x, |v| self.apply(v, &[0.0; 3]))
    }

    /// [`Sampler::transpose`] on a gradient `(3, H, W)`.
    pub(crate) fn transpose_tensor(&self, g: &Tensor) -> Result<Tensor> {
        self.map_tensor(g, |v| self.transpose(v))
    }

    fn map_tensor(&self, t: &Tensor, f: impl Fn(&[f64]) -> Vec<f64>) -> Result<Tensor> {
        let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let out = Tensor::from_vec(f(&v), t.dims(), &candle_core::Device::Cpu)?;
        Ok(out.to_dtype(t.dtype())?.to_device(t.device())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transpose_is_the_adjoint() {
        let (w, h) = (7, 5);
        let n = w * h;
        let mut s = 1u64;
        let mut r = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let flow: Vec<f32> = (0..2 * n).map(|_| (r() * 3.0) as f32).collect();
        let m = Motion {
            width: w,
            height: h,
            flow,
            weights: vec![1.0; n],
        };
        let sampler = Sampler::new(&m).unwrap();
        assert!(
            sampler.taps.iter().any(Option::is_none),
            "some pixels leave the frame"
        );
        let x: Vec<f64> = (0..3 * n).map(|_| r()).collect();
        let y: Vec<f64> = (0..3 * n).map(|_| r()).collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let lhs = dot(&sampler.apply(&x, &[0.0; 3]), &y);
        let rhs = dot(&x, &sampler.transpose(&y));
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
