//! Motion between frames, bilinear warping by a dense flow field, and the
//! warping error that measures how well a stylised video follows its motion.

use candle_core::{DType, Device, Tensor};

use crate::error::{EngineError, Result};
use crate::image::Image;
use crate::model::Preprocess;
use crate::objective::TemporalTarget;
use crate::video::sample::Sampler;

/// How one frame relates to a neighbouring frame: for every pixel of this
/// frame, where it is in the neighbour and how far that can be trusted.
#[derive(Clone, Debug, PartialEq)]
pub struct Motion {
    pub width: usize,
    pub height: usize,
    /// `(2, H, W)`: the horizontal plane, then the vertical plane, in pixels.
    /// Pixel `(x, y)` of this frame shows what the neighbour shows at
    /// `(x + u, y + v)` (OpenCV's `calc(this, neighbour)` convention).
    pub flow: Vec<f32>,
    /// `(H, W)` consistency weights in 0..1 (artistic-videos' `reliable_*.pgm`
    /// divided by 255): 0 where the pixel is disoccluded, on a motion boundary
    /// or leaves the frame.
    pub weights: Vec<f32>,
}

impl Motion {
    /// Checks that the buffers fit `width × height` and that every value is finite.
    pub fn check(&self, width: usize, height: usize) -> Result<()> {
        let n = width * height;
        if (self.width, self.height) != (width, height)
            || self.flow.len() != 2 * n
            || self.weights.len() != n
        {
            return Err(EngineError::setting(
                "motion",
                format!(
                    "flow of {}×{} ({} values) and weights ({} values) do not fit {width}×{height} frames; \
                     compute the flow at the frames' size",
                    self.width,
                    self.height,
                    self.flow.len(),
                    self.weights.len()
                ),
            ));
        }
        if self
            .flow
            .iter()
            .chain(&self.weights)
            .any(|v| !v.is_finite())
        {
            return Err(EngineError::setting(
                "motion",
                "the flow or its weights contain NaN or infinity",
            ));
        }
        Ok(())
    }

    /// This motion (frame A → B) followed by `next` (B → C): A → C. A pixel
    /// of A goes where this flow takes it in B, then on by `next`'s flow
    /// sampled bilinearly there; its weight is this weight times `next`'s
    /// weight sampled there (0 where the path leaves B). A keyframe chain
    /// links its keyframes by such compositions of the neighbouring frames'
    /// flows, so a keyframe is held to its predecessor along the path a
    /// chain of frames would have carried the strokes (docs/video.md,
    /// "Segments between keyframes", measured there).
    pub fn then(&self, next: &Motion) -> Result<Motion> {
        next.check(self.width, self.height)?;
        let sampler = Sampler::new(self)?;
        let flow = sampler.apply(&wide(&next.flow), &[0.0; 2]);
        let weights = sampler.apply(&wide(&next.weights), &[0.0]);
        Ok(Motion {
            width: self.width,
            height: self.height,
            flow: self
                .flow
                .iter()
                .zip(flow)
                .map(|(&a, b)| a + b as f32)
                .collect(),
            weights: self
                .weights
                .iter()
                .zip(weights)
                .map(|(&a, b)| a * b as f32)
                .collect(),
        })
    }
}

/// f32 buffers as f64, the sampler's arithmetic.
fn wide(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// The mean pixel of a model's preprocessing as RGB in 0..1: what the network
/// sees as zero input, and what artistic-videos' `warpImage` puts where a
/// warped pixel comes from outside the frame.
pub fn mean_pixel(pre: &Preprocess) -> [f32; 3] {
    let mut rgb = [0f32; 3];
    for (c, &m) in pre.mean.iter().enumerate() {
        let dst = if pre.bgr { 2 - c } else { c };
        rgb[dst] = (m / pre.scale) as f32;
    }
    rgb
}

/// The Caffe VGG mean pixel (123.68, 116.779, 103.939)/255 in RGB: the fill
/// of [`warping_errors`], independent of any model.
pub const VGG_MEAN_RGB: [f32; 3] = [123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0];

/// `image` (the neighbour) warped to the frame that `motion` starts from:
/// bilinear, as torch's `image.warp(img, flow, 'bilinear', true, 'pad')`
/// that artistic-videos calls; a source position outside
/// `[0, W−1] × [0, H−1]` takes `fill` (see [`mean_pixel`]).
pub fn warp(image: &Image, motion: &Motion, fill: [f32; 3]) -> Result<Image> {
    motion.check(image.width, image.height)?;
    let sampler = Sampler::new(motion)?;
    let x = wide(&image.data);
    let fill = fill.map(f64::from);
    Ok(Image {
        width: image.width,
        height: image.height,
        data: sampler
            .apply(&x, &fill)
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    })
}

/// λ of [`preimage`]: how strongly pixels the warp hardly reaches stay at
/// the guess. Smaller undoes more blur and sharpens more noise; 0.2 beat
/// 0.1 and 0.5 in the segment benchmark (docs/video.md).
pub const PREIMAGE_LAMBDA: f64 = 0.2;

/// Conjugate-gradient steps of [`preimage`]: enough to converge at λ = 0.2.
pub const PREIMAGE_STEPS: usize = 60;

/// An image that `motion` warps onto `image`, where `motion`'s weights trust
/// it: `argmin_x Σ c (warp(x) − image)² + λ |x − guess|²` (see
/// [`Sampler::preimage`], λ = [`PREIMAGE_LAMBDA`]). `motion` goes from
/// `image`'s frame to the frame sought; `guess` `(3, H, W)` is that frame's
/// starting point, usually `image` warped back by the opposite motion. A
/// plain warp back and forth blurs by two bilinear resamplings; this undoes
/// them, so that a frame started here begins next to `image` by the measure
/// of [`warping_errors`].
pub fn preimage(image: &Image, motion: &Motion, guess: &Image) -> Result<Image> {
    motion.check(image.width, image.height)?;
    if (guess.width, guess.height) != (image.width, image.height) {
        return Err(EngineError::setting(
            "preimage",
            "the guess must have the image's size",
        ));
    }
    let x = Sampler::new(motion)?.preimage(
        &wide(&image.data),
        &motion.weights,
        &wide(&guess.data),
        PREIMAGE_LAMBDA,
        PREIMAGE_STEPS,
    );
    Ok(Image {
        width: image.width,
        height: image.height,
        data: x.into_iter().map(|v| v as f32).collect(),
    })
}

/// The temporal constraint of one frame at the output size (Ruder et al.
/// 2016, eq. 7), in one of two directions:
///
/// - `through: None`: `target` is the stylised neighbour warped to this
///   frame, compared pixel by pixel, `γ · mean(c ⊙ (x − target)²)`;
/// - `through: Some(m)`: `target` is the stylised neighbour itself and `m`
///   its motion to this frame; this frame is warped onto the neighbour and
///   compared there, `γ · mean(c ⊙ (warp(x, m) − target)²)` with the
///   gradient through the warp's transpose. A chain that runs backward in
///   time uses this: it then minimises the very pair term that the warping
///   error measures forward.
///
/// `weights` (`c`, `(H, W)` in 0..1) are those of the flow that compares.
#[derive(Clone, Copy, Debug)]
pub struct Temporal<'a> {
    pub target: &'a Image,
    pub weights: &'a [f32],
    pub weight: f64,
    pub through: Option<&'a Motion>,
}

impl Temporal<'_> {
    /// The objective's term for a scale of `dims` `(width, height)`; only the
    /// output scale has a flow, so other sizes are an error.
    pub(crate) fn target(
        &self,
        dims: (usize, usize),
        pre: &Preprocess,
        device: &Device,
        dtype: DType,
    ) -> Result<TemporalTarget> {
        let (w, h) = dims;
        if (self.target.width, self.target.height) != dims || self.weights.len() != w * h {
            return Err(EngineError::setting(
                "temporal",
                format!(
                    "the temporal target is {}×{} with {} weights, the output {w}×{h}",
                    self.target.width,
                    self.target.height,
                    self.weights.len()
                ),
            ));
        }
        let weights = Tensor::from_slice(self.weights, (1, h, w), &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?;
        Ok(TemporalTarget {
            target: self.target.to_input(pre, device, dtype)?,
            weights,
            weight: self.weight,
            through: self.through.map(Sampler::new).transpose()?,
        })
    }
}

/// The warping error of a stylised sequence, one value per frame after the
/// first: `255 · Σᵢ cᵢ |out_t − warp(out_{t−1})|ᵢ / (3 Σᵢ cᵢ)`, the
/// consistency-weighted mean absolute difference in 0..255 between each frame
/// and its predecessor warped to it (the masked warping error of Lai et al.
/// 2018, "Learning blind video temporal consistency", in L1 and 8-bit units).
/// `to_prev[t − 1]` is the motion from frame `t` to frame `t − 1`.
pub fn warping_errors(frames: &[Image], to_prev: &[Motion]) -> Result<Vec<f64>> {
    if frames.len() != to_prev.len() + 1 {
        return Err(EngineError::setting(
            "motion",
            format!(
                "{} frames need {} motions, got {}",
                frames.len(),
                frames.len().saturating_sub(1),
                to_prev.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(to_prev.len());
    for (t, motion) in to_prev.iter().enumerate() {
        let (cur, prev) = (&frames[t + 1], &frames[t]);
        if (cur.width, cur.height) != (prev.width, prev.height) {
            return Err(EngineError::setting(
                "frames",
                "all frames of a sequence must have the same size",
            ));
        }
        let warped = warp(prev, motion, VGG_MEAN_RGB)?;
        let n = cur.width * cur.height;
        let (mut num, mut den) = (0f64, 0f64);
        for (i, &c) in motion.weights.iter().enumerate() {
            let d: f32 = (0..3)
                .map(|ch| (cur.data[ch * n + i] - warped.data[ch * n + i]).abs())
                .sum();
            num += c as f64 * d as f64;
            den += c as f64;
        }
        out.push(if den > 0.0 {
            255.0 * num / (3.0 * den)
        } else {
            0.0
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Image {
        let n = w * h;
        let mut data = vec![0f32; 3 * n];
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    data[c * n + y * w + x] =
                        (x as f32 * 0.05 + y as f32 * 0.02 + c as f32 * 0.1) % 1.0;
                }
            }
        }
        Image {
            width: w,
            height: h,
            data,
        }
    }

    fn uniform(w: usize, h: usize, u: f32, v: f32) -> Motion {
        let n = w * h;
        let mut flow = vec![u; n];
        flow.extend(std::iter::repeat_n(v, n));
        Motion {
            width: w,
            height: h,
            flow,
            weights: vec![1.0; n],
        }
    }

    #[test]
    fn integer_shift_moves_pixels_and_fills_the_rest_with_the_mean_pixel() {
        let (w, h) = (7, 5);
        let img = ramp(w, h);
        let fill = [0.1, 0.2, 0.3];
        let out = warp(&img, &uniform(w, h, 2.0, -1.0), fill).unwrap();
        let n = w * h;
        for (c, &f) in fill.iter().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    let got = out.data[c * n + y * w + x];
                    let want = if x + 2 < w && y >= 1 {
                        img.data[c * n + (y - 1) * w + x + 2]
                    } else {
                        f
                    };
                    assert_eq!(got, want, "channel {c} at ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn half_pixel_shift_averages_neighbours() {
        let (w, h) = (6, 4);
        let img = ramp(w, h);
        let out = warp(&img, &uniform(w, h, 0.5, 0.0), [0.0; 3]).unwrap();
        let n = w * h;
        for y in 0..h {
            for x in 0..w - 1 {
                let want = 0.5 * (img.data[n + y * w + x] + img.data[n + y * w + x + 1]);
                assert!((out.data[n + y * w + x] - want).abs() < 1e-6);
            }
            // x + 0.5 > W − 1 in the last column: outside.
            assert_eq!(out.data[n + y * w + w - 1], 0.0);
        }
    }

    #[test]
    fn mean_pixel_of_caffe_preprocessing_is_the_vgg_mean_in_rgb() {
        let m = mean_pixel(&Preprocess::CAFFE);
        for (a, b) in m.iter().zip(VGG_MEAN_RGB) {
            assert!((a - b).abs() < 1e-7);
        }
    }

    #[test]
    fn warping_error_is_zero_for_a_sequence_that_follows_its_flow() {
        let (w, h) = (9, 6);
        let a = ramp(w, h);
        let m = uniform(w, h, 1.0, 0.0);
        let b = warp(&a, &m, VGG_MEAN_RGB).unwrap();
        let e = warping_errors(&[a.clone(), b.clone()], std::slice::from_ref(&m)).unwrap();
        assert_eq!(e, vec![0.0]);
        // A frame that ignores the motion has an error, in 0..255 units.
        let e = warping_errors(&[a.clone(), a], &[m]).unwrap();
        assert!(e[0] > 1.0 && e[0] < 255.0, "{e:?}");
    }

    #[test]
    fn warping_error_ignores_pixels_of_zero_weight() {
        let (w, h) = (5, 5);
        let a = ramp(w, h);
        let mut b = a.clone();
        b.data[12] = 1.0 - b.data[12];
        let mut m = uniform(w, h, 0.0, 0.0);
        m.weights[12] = 0.0;
        let e = warping_errors(&[a, b], &[m]).unwrap();
        assert_eq!(e, vec![0.0]);
    }

    #[test]
    fn motions_compose_along_the_path() {
        let (w, h) = (8, 6);
        let mut a = uniform(w, h, 1.5, 0.0);
        a.weights[0] = 0.5;
        let mut b = uniform(w, h, 1.0, -1.0);
        b.weights = (0..w * h)
            .map(|i| if i % w == 3 { 0.0 } else { 1.0 })
            .collect();
        let ab = a.then(&b).unwrap();
        let n = w * h;
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                // Landing at x + 1.5: inside B up to column W − 1, where
                // `b`'s flow and weight are sampled.
                if x as f32 + 1.5 <= (w - 1) as f32 {
                    assert!((ab.flow[i] - 2.5).abs() < 1e-6, "u at ({x}, {y})");
                    assert!((ab.flow[n + i] + 1.0).abs() < 1e-6, "v at ({x}, {y})");
                    // Landing half way next to column 3 (x = 1, 2), where
                    // `b`'s weight is 0, halves the weight.
                    let bw = match x + 1 {
                        2 => 0.5,
                        3 => 0.5,
                        _ => 1.0,
                    };
                    let want = a.weights[i] * bw;
                    assert!((ab.weights[i] - want).abs() < 1e-6, "weight at ({x}, {y})");
                } else {
                    assert_eq!(ab.weights[i], 0.0, "({x}, {y}) leaves B");
                }
            }
        }
        // Warping by the composition is warping twice, up to bilinear blur:
        // exact for integer shifts.
        let img = ramp(w, h);
        let (p, q) = (uniform(w, h, 1.0, 0.0), uniform(w, h, 2.0, 1.0));
        let once = warp(&img, &p.then(&q).unwrap(), [0.0; 3]).unwrap();
        let twice = warp(&warp(&img, &q, [0.0; 3]).unwrap(), &p, [0.0; 3]).unwrap();
        assert_eq!(once, twice);
        assert!(a.then(&uniform(w + 1, h, 0.0, 0.0)).is_err());
    }

    #[test]
    fn the_preimage_warps_back_closer_than_a_plain_warp() {
        // Noise moved by 0.3 pixels: warping it back and forth blurs it;
        // the preimage warps onto it far more closely.
        let (w, h) = (12, 8);
        let n = w * h;
        let mut img = ramp(w, h);
        let mut seed = 7u64;
        for v in img.data.iter_mut() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *v = (seed >> 40) as f32 / (1u64 << 24) as f32;
        }
        let mut to = uniform(w, h, 0.3, 0.0);
        let back = uniform(w, h, -0.3, 0.0);
        // Trust only pixels whose samples stay inside the frame.
        for y in 0..h {
            to.weights[y * w + w - 1] = 0.0;
        }
        let plain = warp(&img, &back, [0.5; 3]).unwrap();
        let pre = preimage(&img, &to, &plain).unwrap();
        let err = |x: &Image| {
            let y = warp(x, &to, [0.5; 3]).unwrap();
            (0..3 * n)
                .filter(|i| to.weights[i % n] > 0.0)
                .map(|i| (y.data[i] - img.data[i]).abs())
                .sum::<f32>()
        };
        let (e_plain, e_pre) = (err(&plain), err(&pre));
        // λ keeps some blur: 0.41× here (white noise, the hardest case).
        assert!(
            e_pre < 0.5 * e_plain,
            "preimage {e_pre} vs plain warp {e_plain}"
        );
        assert!(preimage(&img, &to, &ramp(w + 1, h)).is_err());
    }

    #[test]
    fn mismatched_motion_is_a_clear_error() {
        let img = ramp(4, 4);
        let err = warp(&img, &uniform(5, 4, 0.0, 0.0), [0.0; 3]).unwrap_err();
        assert!(err.to_string().contains("do not fit 4×4"), "{err}");
    }
}
