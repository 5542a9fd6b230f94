//! A video frame as the engine takes pictures: planar RGB `(3, H, W)` f32 in
//! 0..1, and its conversions to and from packed 8-bit RGB.

use crate::error::{Result, VideoError};

/// One frame: planar `(3, H, W)`, the R plane, then G, then B, values in
/// 0..1 (the layout of `stylefarm_engine::Image`).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Frame {
    /// From packed `rgb24` bytes (`H × W × 3`), as ffmpeg writes them.
    pub fn from_rgb24(width: usize, height: usize, bytes: &[u8]) -> Result<Frame> {
        let n = width * height;
        if bytes.len() != 3 * n {
            return Err(VideoError::invalid(
                "frame",
                format!("{} bytes for a {width}×{height} RGB frame", bytes.len()),
            ));
        }
        let mut data = vec![0f32; 3 * n];
        for (i, px) in bytes.chunks_exact(3).enumerate() {
            for c in 0..3 {
                data[c * n + i] = px[c] as f32 / 255.0;
            }
        }
        Ok(Frame {
            width,
            height,
            data,
        })
    }

    /// Packed `rgb24` bytes, rounded and clamped to 0..255.
    pub fn to_rgb24(&self) -> Vec<u8> {
        let n = self.width * self.height;
        let mut out = vec![0u8; 3 * n];
        for i in 0..n {
            for c in 0..3 {
                out[3 * i + c] = (self.data[c * n + i] * 255.0).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// Luma `(H, W)` in 0..255 (BT.601 weights), the 8-bit grey image that
    /// optical flow reads.
    pub fn to_gray8(&self) -> Vec<u8> {
        let n = self.width * self.height;
        (0..n)
            .map(|i| {
                let y =
                    0.299 * self.data[i] + 0.587 * self.data[n + i] + 0.114 * self.data[2 * n + i];
                (y * 255.0).round().clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.width == 0 || self.height == 0 || self.data.len() != 3 * self.width * self.height {
            return Err(VideoError::invalid(
                "frame",
                format!(
                    "{} values do not make a {}×{} RGB frame",
                    self.data.len(),
                    self.width,
                    self.height
                ),
            ));
        }
        Ok(())
    }
}

/// `left` and `right` side by side (heights must match): the preview that
/// shows a source frame next to its stylised version.
pub fn side_by_side(left: &Frame, right: &Frame) -> Result<Frame> {
    left.check()?;
    right.check()?;
    if left.height != right.height {
        return Err(VideoError::invalid(
            "preview",
            format!(
                "frames of heights {} and {} cannot stand side by side; resize one first",
                left.height, right.height
            ),
        ));
    }
    let (h, w) = (left.height, left.width + right.width);
    let mut data = Vec::with_capacity(3 * h * w);
    for c in 0..3 {
        for y in 0..h {
            for f in [left, right] {
                let start = c * f.width * h + y * f.width;
                data.extend_from_slice(&f.data[start..start + f.width]);
            }
        }
    }
    Ok(Frame {
        width: w,
        height: h,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb24_round_trip_is_exact() {
        let bytes: Vec<u8> = (0..3 * 5 * 3).map(|i| (i * 17 % 256) as u8).collect();
        let f = Frame::from_rgb24(5, 3, &bytes).unwrap();
        assert_eq!(f.data[0], bytes[0] as f32 / 255.0);
        assert_eq!(f.data[15], bytes[1] as f32 / 255.0, "G plane starts at W·H");
        assert_eq!(f.to_rgb24(), bytes);
        assert!(Frame::from_rgb24(5, 3, &bytes[1..]).is_err());
    }

    #[test]
    fn side_by_side_puts_rows_next_to_each_other() {
        let l = Frame {
            width: 2,
            height: 1,
            data: vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        };
        let r = Frame {
            width: 1,
            height: 1,
            data: vec![0.9, 0.8, 0.7],
        };
        let s = side_by_side(&l, &r).unwrap();
        assert_eq!((s.width, s.height), (3, 1));
        assert_eq!(s.data, vec![0.0, 0.1, 0.9, 0.2, 0.3, 0.8, 0.4, 0.5, 0.7]);
        let tall = Frame {
            width: 1,
            height: 2,
            data: vec![0.0; 6],
        };
        assert!(side_by_side(&l, &tall).is_err());
    }
}
