//! Flow fields and consistency weights as files, in the formats
//! artistic-videos reads and writes: Middlebury `.flo` for flows, 8-bit
//! binary PGM for the weights. A farm's flow task writes them to storage;
//! the tasks that render or measure read them back.

use crate::error::{Result, VideoError};
use crate::flow::Flow;

/// The tag a Middlebury `.flo` file starts with (202021.25 as f32 "PIEH").
const FLO_TAG: f32 = 202_021.25;

/// Largest side a flow file may claim, pixels.
const MAX_FILE_SIDE: usize = 16_384;

impl Flow {
    /// The Middlebury `.flo` encoding (Baker et al. 2011, the format of the
    /// Middlebury and Sintel benchmarks): the tag, width and height as
    /// little-endian i32, then `(u, v)` per pixel, row-major, f32.
    pub fn to_flo(&self) -> Result<Vec<u8>> {
        self.check()?;
        let n = self.width * self.height;
        let mut out = Vec::with_capacity(12 + 8 * n);
        out.extend(FLO_TAG.to_le_bytes());
        out.extend((self.width as i32).to_le_bytes());
        out.extend((self.height as i32).to_le_bytes());
        for i in 0..n {
            out.extend(self.data[i].to_le_bytes());
            out.extend(self.data[n + i].to_le_bytes());
        }
        Ok(out)
    }

    /// Reads a `.flo` file written by [`Flow::to_flo`] (or any Middlebury
    /// tool); `what` names it in errors.
    pub fn from_flo(bytes: &[u8], what: &str) -> Result<Flow> {
        let bad = |reason: String| VideoError::invalid("flow file", format!("{what}: {reason}"));
        if bytes.len() < 12 {
            return Err(bad(format!("{} bytes is too short", bytes.len())));
        }
        let word = |i: usize| <[u8; 4]>::try_from(&bytes[4 * i..4 * i + 4]).expect("4 bytes");
        if f32::from_le_bytes(word(0)) != FLO_TAG {
            return Err(bad("does not start with the .flo tag".into()));
        }
        let side = |i: usize| {
            let v = i32::from_le_bytes(word(i));
            usize::try_from(v)
                .ok()
                .filter(|&s| (1..=MAX_FILE_SIDE).contains(&s))
                .ok_or_else(|| bad(format!("a side of {v} pixels")))
        };
        let (width, height) = (side(1)?, side(2)?);
        let n = width * height;
        if bytes.len() != 12 + 8 * n {
            return Err(bad(format!(
                "{} bytes for a {width}×{height} flow (expected {})",
                bytes.len(),
                12 + 8 * n
            )));
        }
        let mut data = vec![0f32; 2 * n];
        for (i, px) in bytes[12..].chunks_exact(8).enumerate() {
            data[i] = f32::from_le_bytes(px[..4].try_into().expect("4 bytes"));
            data[n + i] = f32::from_le_bytes(px[4..].try_into().expect("4 bytes"));
        }
        Ok(Flow {
            width,
            height,
            data,
        })
    }
}

/// Consistency weights `(H, W)` in 0..1 as a binary 8-bit PGM (`P5`), as
/// artistic-videos' `consistencyChecker` writes `reliable_*.pgm`: each
/// weight rounded to the nearest of 256 levels.
pub fn weights_to_pgm(width: usize, height: usize, weights: &[f32]) -> Result<Vec<u8>> {
    if weights.len() != width * height {
        return Err(VideoError::invalid(
            "weights",
            format!("{} values for {width}×{height}", weights.len()),
        ));
    }
    let mut out = format!("P5\n{width} {height}\n255\n").into_bytes();
    out.extend(
        weights
            .iter()
            .map(|w| (w.clamp(0.0, 1.0) * 255.0).round() as u8),
    );
    Ok(out)
}

/// Reads weights written by [`weights_to_pgm`]: `(width, height, weights
/// in 0..1)`, as Torch's `image.load` of a PGM gives them. `what` names the
/// file in errors.
pub fn weights_from_pgm(bytes: &[u8], what: &str) -> Result<(usize, usize, Vec<f32>)> {
    let bad = |reason: &str| VideoError::invalid("weights file", format!("{what}: {reason}"));
    // Header: "P5", width, height, maxval, each after whitespace, then one
    // whitespace byte before the pixels.
    let mut fields = Vec::with_capacity(4);
    let mut i = 0;
    while fields.len() < 4 {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            return Err(bad("ends inside its header"));
        }
        fields.push(std::str::from_utf8(&bytes[start..i]).map_err(|_| bad("not a PGM header"))?);
    }
    let num = |s: &str| s.parse::<usize>().map_err(|_| bad("not a PGM header"));
    if fields[0] != "P5" || num(fields[3])? != 255 {
        return Err(bad("not an 8-bit binary PGM"));
    }
    let (w, h) = (num(fields[1])?, num(fields[2])?);
    if !(1..=MAX_FILE_SIDE).contains(&w) || !(1..=MAX_FILE_SIDE).contains(&h) {
        return Err(bad("a side out of range"));
    }
    let pixels = bytes.get(i + 1..).unwrap_or_default();
    if pixels.len() != w * h {
        return Err(bad("its pixels do not match its size"));
    }
    Ok((w, h, pixels.iter().map(|&b| f32::from(b) / 255.0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flo_round_trips_and_is_interleaved() {
        let f = Flow {
            width: 3,
            height: 2,
            data: (0..12).map(|i| i as f32 * 0.5 - 2.0).collect(),
        };
        let bytes = f.to_flo().unwrap();
        assert_eq!(bytes.len(), 12 + 8 * 6);
        assert_eq!(&bytes[..4], b"PIEH");
        // u of pixel 0, then v of pixel 0.
        assert_eq!(f32::from_le_bytes(bytes[12..16].try_into().unwrap()), -2.0);
        assert_eq!(f32::from_le_bytes(bytes[16..20].try_into().unwrap()), 1.0);
        assert_eq!(Flow::from_flo(&bytes, "f").unwrap(), f);
        assert!(Flow::from_flo(&bytes[..20], "f").is_err());
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&1_000_000i32.to_le_bytes());
        assert!(Flow::from_flo(&huge, "f").is_err());
        assert!(Flow::from_flo(b"not a flow file", "f").is_err());
    }

    #[test]
    fn pgm_round_trips_to_256_levels() {
        let w = [0.0, 0.5, 1.0, 0.25, 2.0, -1.0];
        let bytes = weights_to_pgm(3, 2, &w).unwrap();
        assert!(bytes.starts_with(b"P5\n3 2\n255\n"));
        let (ww, hh, back) = weights_from_pgm(&bytes, "w").unwrap();
        assert_eq!((ww, hh), (3, 2));
        for (a, b) in w.iter().zip(&back) {
            assert!(
                (a.clamp(0.0, 1.0) - b).abs() <= 0.5 / 255.0 + 1e-6,
                "{a} {b}"
            );
        }
        assert!(weights_from_pgm(&bytes[..bytes.len() - 1], "w").is_err());
        assert!(weights_from_pgm(b"P6\n1 1\n255\n\0\0\0", "w").is_err());
        assert!(weights_to_pgm(2, 2, &w).is_err());
    }
}
