//! A mask cropped like a tile of its picture: what a farm does when it
//! splits a guided render into tiles (each tile renders on its own, guided
//! by its part of the content mask).

use crate::error::{EngineError, Result};

use super::Mask;

impl Mask {
    /// The part of this mask under a tile: the mask stretched over a
    /// `full = (width, height)` picture (as the content is resized to the
    /// scale), then the `size = (width, height)` pixels at `at = (x, y)`
    /// taken, all in pixels of that picture. Each tile pixel takes the label
    /// of the mask pixel under its centre (nearest neighbour; the region maps
    /// are then area-averaged over the tile's own grid as usual). Regions
    /// absent from the tile are dropped; the others keep their colours and
    /// order.
    pub fn crop(
        &self,
        full: (usize, usize),
        at: (usize, usize),
        size: (usize, usize),
    ) -> Result<Mask> {
        let ((fw, fh), (x0, y0), (w, h)) = (full, at, size);
        if w == 0 || h == 0 || x0 + w > fw || y0 + h > fh {
            return Err(EngineError::BadMask {
                name: "content mask".into(),
                reason: format!(
                    "tile {w}×{h} at ({x0}, {y0}) does not lie inside the {fw}×{fh} picture; \
                     this is a bug in the tile plan"
                ),
            });
        }
        // Source index of the pixel under each tile pixel's centre.
        let source = |at: usize, len: usize, of: usize| {
            let x = (at as f64 + 0.5) * of as f64 / len as f64;
            (x.floor() as usize).min(of - 1)
        };
        let xs: Vec<usize> = (0..w).map(|x| source(x0 + x, fw, self.width)).collect();
        let mut labels = Vec::with_capacity(w * h);
        for y in 0..h {
            let row = source(y0 + y, fh, self.height) * self.width;
            labels.extend(xs.iter().map(|&sx| self.labels[row + sx]));
        }
        // Keep only the regions the tile has, relabelled in their old order.
        let mut used = vec![false; self.colours.len()];
        for &l in &labels {
            used[l as usize] = true;
        }
        let mut new_label = vec![0u8; self.colours.len()];
        let mut colours = Vec::new();
        for (old, _) in used.iter().enumerate().filter(|(_, u)| **u) {
            new_label[old] = colours.len() as u8;
            colours.push(self.colours[old]);
        }
        for l in &mut labels {
            *l = new_label[*l as usize];
        }
        Ok(Mask {
            width: w,
            height: h,
            colours,
            labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: [u8; 3] = [255, 0, 0];
    const BLUE: [u8; 3] = [0, 0, 255];

    /// 4×2: left half red, right half blue.
    fn halves() -> Mask {
        Mask::from_labels(4, 2, vec![RED, BLUE], vec![0, 0, 1, 1, 0, 0, 1, 1]).unwrap()
    }

    #[test]
    fn a_crop_takes_the_regions_under_the_tile() {
        // Stretched over 8×4, the right 4×4 is all blue: one region left.
        let right = halves().crop((8, 4), (4, 0), (4, 4)).unwrap();
        assert_eq!(right.colours(), &[BLUE]);
        assert_eq!((right.width(), right.height()), (4, 4));
        assert!(right.labels().iter().all(|&l| l == 0));
        // A tile across the border keeps both, split at the same place.
        let middle = halves().crop((8, 4), (2, 1), (4, 2)).unwrap();
        assert_eq!(middle.colours(), &[RED, BLUE]);
        assert_eq!(middle.labels(), &[0, 0, 1, 1, 0, 0, 1, 1]);
        // The whole picture is the mask stretched.
        let whole = halves().crop((4, 2), (0, 0), (4, 2)).unwrap();
        assert_eq!(whole, halves());
    }

    #[test]
    fn a_tile_outside_the_picture_is_refused() {
        let e = halves().crop((8, 4), (6, 0), (4, 4)).unwrap_err();
        assert!(e.to_string().contains("does not lie inside"), "{e}");
    }
}
