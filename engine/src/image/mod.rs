//! Pictures in and out: decoding with a pixel limit checked before any
//! pixels are decoded, truncated and corrupt files refused (`integrity`),
//! EXIF orientation applied, conversion of every colour type to RGB,
//! resizing, PNG output, and the mapping to and from network input tensors.

use std::io::Cursor;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Rgb32FImage,
    imageops::FilterType,
};

use crate::error::{EngineError, Result};
use crate::model::Preprocess;

mod integrity;

/// Default limit on input pixels (a 16K × 16K print is 268 M): large enough for
/// real photos, small enough that a forged header cannot exhaust memory.
pub const DEFAULT_MAX_PIXELS: u64 = stylefarm_spec::limits::DEFAULT_MAX_INPUT_PIXELS;

/// An RGB picture, planar (`R` plane, `G` plane, `B` plane), values in 0..1.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Image {
    /// Decodes an image file; see [`Image::decode`].
    pub fn load(path: &Path, max_pixels: u64) -> Result<Image> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::BadImage {
            path: path.to_owned(),
            reason: format!("{e}; check the path"),
        })?;
        Image::decode(&bytes, path, max_pixels)
    }

    /// Decodes any supported format (PNG, JPEG, GIF, BMP, TIFF, WebP), upright:
    /// the EXIF orientation (JPEG, PNG `eXIf`, WebP `EXIF`, the TIFF tag; all
    /// 8 values of EXIF 2.3 tag 0x0112) is applied, and the result carries
    /// none. Grayscale, 16-bit, CMYK and alpha images are converted (alpha
    /// composited on white). `name` is only used in error messages.
    ///
    /// Order: the header's stored dimensions are checked against
    /// `max_pixels` before anything else (rotation keeps the pixel count;
    /// a TIFF's structure goes first, as reading its header allocates by
    /// the counts it states),
    /// then the file's structure (see `integrity`: truncated or corrupt files
    /// are [`EngineError::DamagedImage`], never a filled-in picture), then
    /// the pixels are decoded.
    pub fn decode(bytes: &[u8], name: &Path, max_pixels: u64) -> Result<Image> {
        let bad = |reason: String| EngineError::BadImage {
            path: name.to_owned(),
            reason,
        };
        let damaged = |reason: String| EngineError::DamagedImage {
            path: name.to_owned(),
            reason,
        };
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| bad(e.to_string()))?;
        let Some(format) = reader.format() else {
            return Err(bad(
                "unrecognised image format; use PNG, JPEG, GIF, BMP, TIFF or WebP".into(),
            ));
        };
        // A TIFF's size lies in a directory whose values the decoder
        // allocates by their stated count before it finds them missing (a
        // 1 KiB file made it allocate 10 MiB): its structure, whose check
        // allocates nothing, is checked first.
        if format == ImageFormat::Tiff {
            integrity::check(format, bytes).map_err(damaged)?;
        }
        let mut decoder = reader.into_decoder().map_err(|e| match e {
            ImageError::Unsupported(e) => bad(format!("{e}; convert it to PNG or JPEG")),
            e => damaged(format!("its header is unreadable ({e})")),
        })?;
        let (w, h) = decoder.dimensions();
        if w == 0 || h == 0 {
            return Err(bad(format!("image has zero size ({w}×{h})")));
        }
        let pixels = w as u64 * h as u64;
        if pixels > max_pixels {
            return Err(EngineError::ImageTooLarge {
                path: name.to_owned(),
                width: w as u64,
                height: h as u64,
                pixels,
                limit: max_pixels,
            });
        }
        integrity::check(format, bytes).map_err(damaged)?;
        let orientation = decoder
            .orientation()
            .map_err(|e| damaged(format!("its metadata is unreadable ({e})")))?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(w);
        limits.max_image_height = Some(h);
        limits.max_alloc = Some(pixels.saturating_mul(16).saturating_add(1 << 20));
        decoder.set_limits(limits).map_err(|e| bad(e.to_string()))?;
        let mut img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
            ImageError::Unsupported(e) => bad(format!("{e}; convert it to PNG or JPEG")),
            e => damaged(format!("the decoder stopped: {e}")),
        })?;
        img.apply_orientation(orientation);
        Ok(Image::from_dynamic(img))
    }

    pub fn from_dynamic(img: DynamicImage) -> Image {
        let has_alpha = img.color().has_alpha();
        let rgba = img.into_rgba32f();
        let (width, height) = (rgba.width() as usize, rgba.height() as usize);
        let n = width * height;
        let mut data = vec![0f32; 3 * n];
        for (i, p) in rgba.pixels().enumerate() {
            let a = if has_alpha { p[3].clamp(0.0, 1.0) } else { 1.0 };
            for c in 0..3 {
                data[c * n + i] = (p[c].clamp(0.0, 1.0) * a + (1.0 - a)).clamp(0.0, 1.0);
            }
        }
        Image {
            width,
            height,
            data,
        }
    }

    pub fn to_rgb32f(&self) -> Rgb32FImage {
        let n = self.width * self.height;
        Rgb32FImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let i = y as usize * self.width + x as usize;
            image::Rgb([self.data[i], self.data[n + i], self.data[2 * n + i]])
        })
    }

    pub fn to_rgb8(&self) -> image::RgbImage {
        DynamicImage::ImageRgb32F(self.to_rgb32f()).into_rgb8()
    }

    /// Resampled to exactly `width × height` (Catmull-Rom).
    pub fn resize(&self, width: usize, height: usize) -> Image {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let out = image::imageops::resize(
            &self.to_rgb32f(),
            width as u32,
            height as u32,
            FilterType::CatmullRom,
        );
        Image::from_dynamic(DynamicImage::ImageRgb32F(out))
    }

    /// Resized so that its long side is `long_side`, keeping the aspect ratio.
    pub fn resize_long_side(&self, long_side: usize) -> Image {
        let (w, h) = fit_long_side(self.width, self.height, long_side);
        self.resize(w, h)
    }

    /// Encodes as PNG (8-bit RGB).
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        let mut out = Cursor::new(Vec::new());
        self.to_rgb8()
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| EngineError::Write {
                path: "<png>".into(),
                reason: e.to_string(),
            })?;
        Ok(out.into_inner())
    }

    /// Writes the image; the format follows the extension (PNG, JPEG, …).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.to_rgb8().save(path).map_err(|e| EngineError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The network input `(3, H, W)` for this picture.
    pub fn to_input(&self, pre: &Preprocess, device: &Device, dtype: DType) -> Result<Tensor> {
        let n = self.width * self.height;
        let mut v = vec![0f32; 3 * n];
        for c in 0..3 {
            let src = if pre.bgr { 2 - c } else { c };
            let (m, s, k) = (pre.mean[c] as f32, pre.std[c] as f32, pre.scale as f32);
            for (d, &x) in v[c * n..(c + 1) * n]
                .iter_mut()
                .zip(&self.data[src * n..(src + 1) * n])
            {
                *d = (x * k - m) / s;
            }
        }
        let t = Tensor::from_vec(v, (3, self.height, self.width), &Device::Cpu)?;
        Ok(t.to_dtype(dtype)?.to_device(device)?)
    }

    /// The picture a network input `(3, H, W)` shows, clamped to 0..1.
    pub fn from_input(t: &Tensor, pre: &Preprocess) -> Result<Image> {
        let (_, height, width) = t.dims3()?;
        let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let n = width * height;
        let mut data = vec![0f32; 3 * n];
        for c in 0..3 {
            let dst = if pre.bgr { 2 - c } else { c };
            let (m, s, k) = (pre.mean[c] as f32, pre.std[c] as f32, pre.scale as f32);
            for (d, &x) in data[dst * n..(dst + 1) * n]
                .iter_mut()
                .zip(&v[c * n..(c + 1) * n])
            {
                *d = ((x * s + m) / k).clamp(0.0, 1.0);
            }
        }
        Ok(Image {
            width,
            height,
            data,
        })
    }
}

/// `(w, h)` scaled so that the longer side is `long_side` (each side ≥ 1).
pub fn fit_long_side(width: usize, height: usize, long_side: usize) -> (usize, usize) {
    let scale = long_side as f64 / width.max(height).max(1) as f64;
    let w = ((width as f64 * scale).round() as usize).max(1);
    let h = ((height as f64 * scale).round() as usize).max(1);
    (w, h)
}
