//! Animated GIF of an optimisation's snapshots, as in the figures of the
//! Gatys papers: every frame resized to the final output size.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};

use crate::error::{EngineError, Result};
use crate::image::Image;

pub struct Animation {
    encoder: GifEncoder<BufWriter<File>>,
    path: PathBuf,
    width: usize,
    height: usize,
    delay_ms: u32,
    frames: usize,
}

impl Animation {
    /// Starts `path`; frames are resized to `width × height`.
    pub fn create(path: &Path, width: usize, height: usize, delay_ms: u32) -> Result<Animation> {
        let err = |e: String| EngineError::Write {
            path: path.to_owned(),
            reason: e,
        };
        let file = File::create(path).map_err(|e| err(e.to_string()))?;
        let mut encoder = GifEncoder::new_with_speed(BufWriter::new(file), 10);
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(|e| err(e.to_string()))?;
        Ok(Animation {
            encoder,
            path: path.to_owned(),
            width,
            height,
            delay_ms,
            frames: 0,
        })
    }

    pub fn push(&mut self, image: &Image) -> Result<()> {
        let rgb = image.resize(self.width, self.height).to_rgb8();
        let rgba = RgbaImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let p = rgb.get_pixel(x, y);
            image::Rgba([p[0], p[1], p[2], 255])
        });
        let frame = Frame::from_parts(rgba, 0, 0, Delay::from_numer_denom_ms(self.delay_ms, 1));
        self.encoder
            .encode_frame(frame)
            .map_err(|e| EngineError::Write {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        self.frames += 1;
        Ok(())
    }

    pub fn frames(&self) -> usize {
        self.frames
    }
}
