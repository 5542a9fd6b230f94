//! Dense optical flow between two frames with OpenCV's DIS (Kroeger et al.
//! 2016, "Fast optical flow using dense inverse search"), and the pair of
//! flows with consistency weights that the temporal loss needs.

use opencv::core::{Mat, Vec2f};
use opencv::prelude::*;
use opencv::video::{DISOpticalFlow, DISOpticalFlow_PRESET_MEDIUM};

use crate::consistency::consistency;
use crate::error::{Result, VideoError};
use crate::frame::Frame;

/// A dense flow field `(2, H, W)`: the horizontal plane, then the vertical
/// plane, in pixels. Pixel `(x, y)` of the frame it starts from shows what
/// the other frame shows at `(x + u, y + v)` (OpenCV's `calc(from, to)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Flow {
    pub(crate) fn check(&self) -> Result<()> {
        if self.data.len() != 2 * self.width * self.height {
            return Err(VideoError::invalid(
                "flow",
                format!(
                    "{} values do not make a {}×{} flow field",
                    self.data.len(),
                    self.width,
                    self.height
                ),
            ));
        }
        Ok(())
    }
}

/// The flow from `from` to `to` (same size): DIS at its MEDIUM preset on
/// the frames' 8-bit luma, with variational refinement.
pub fn optical_flow(from: &Frame, to: &Frame) -> Result<Flow> {
    from.check()?;
    to.check()?;
    if (from.width, from.height) != (to.width, to.height) {
        return Err(VideoError::invalid(
            "flow",
            format!(
                "frames of {}×{} and {}×{}: flow needs one size",
                from.width, from.height, to.width, to.height
            ),
        ));
    }
    let (w, h) = (from.width, from.height);
    let (a, b) = (from.to_gray8(), to.to_gray8());
    let a = Mat::new_rows_cols_with_data(h as i32, w as i32, &a)?;
    let b = Mat::new_rows_cols_with_data(h as i32, w as i32, &b)?;
    let mut dis = DISOpticalFlow::create(DISOpticalFlow_PRESET_MEDIUM)?;
    let mut flow = Mat::default();
    dis.calc(&a, &b, &mut flow)?;
    let px = flow.data_typed::<Vec2f>()?;
    let n = w * h;
    let mut data = vec![0f32; 2 * n];
    for (i, p) in px.iter().enumerate().take(n) {
        data[i] = p[0];
        data[n + i] = p[1];
    }
    Ok(Flow {
        width: w,
        height: h,
        data,
    })
}

/// The motion between two neighbouring frames `a` and `b` both ways, each
/// flow with its consistency weights `(H, W)` in 0..1 (see
/// [`crate::consistency()`]): what the temporal loss of `b` against `a`
/// (`backward`, b → a) and of `a` against `b` (`forward`, a → b) need.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowPair {
    /// `a → b`, artistic-videos' `forward_a_b.flo`.
    pub forward: Flow,
    /// Consistency of `forward` (`reliable_a_b.pgm`).
    pub forward_weights: Vec<f32>,
    /// `b → a`, artistic-videos' `backward_b_a.flo`.
    pub backward: Flow,
    /// Consistency of `backward` (`reliable_b_a.pgm`).
    pub backward_weights: Vec<f32>,
}

/// Both flows between `a` and `b` and their consistency weights, as
/// artistic-videos' `makeOptFlow.sh` computes them for each pair.
pub fn flow_pair(a: &Frame, b: &Frame) -> Result<FlowPair> {
    let forward = optical_flow(a, b)?;
    let backward = optical_flow(b, a)?;
    Ok(FlowPair {
        forward_weights: consistency(&forward, &backward)?,
        backward_weights: consistency(&backward, &forward)?,
        forward,
        backward,
    })
}
