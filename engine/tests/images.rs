//! Bad pictures get clear errors, never panics; odd colour types are converted.

use std::io::Write;
use std::path::Path;

use stylefarm_engine::image::DEFAULT_MAX_PIXELS;
use stylefarm_engine::{EngineError, Image};

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG signature and IHDR claiming `w × h`, with no pixel data after it.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(w.to_be_bytes());
    chunk.extend(h.to_be_bytes());
    chunk.extend([8, 2, 0, 0, 0]);
    v.extend(13u32.to_be_bytes());
    v.extend(&chunk);
    v.extend(crc32(&chunk).to_be_bytes());
    // An empty IDAT, as a forged file would have: decoders read the header up to it.
    v.extend(0u32.to_be_bytes());
    v.extend(b"IDAT");
    v.extend(crc32(b"IDAT").to_be_bytes());
    v
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn decode(bytes: &[u8]) -> Result<Image, EngineError> {
    Image::decode(bytes, Path::new("test.img"), DEFAULT_MAX_PIXELS)
}

#[test]
fn huge_header_is_refused_before_decoding() {
    let err = decode(&png_header(100_000, 100_000)).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::ImageTooLarge {
                pixels: 10_000_000_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("more than the limit"), "{err}");
}

#[test]
fn zero_size_truncated_and_garbage_files_are_clear_errors() {
    let err = decode(&png_header(0, 10)).unwrap_err().to_string();
    assert!(
        err.contains("zero size") || err.contains("header is unreadable"),
        "{err}"
    );

    let full = encode(
        image::DynamicImage::new_rgb8(20, 20),
        image::ImageFormat::Png,
    );
    let err = decode(&full[..full.len() / 2]).unwrap_err().to_string();
    assert!(err.contains("incomplete or corrupt"), "{err}");

    let err = decode(b"this is not a picture at all")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unrecognised image format"), "{err}");

    let err = decode(&[]).unwrap_err().to_string();
    assert!(err.contains("test.img"), "{err}");

    let jpeg = encode(
        image::DynamicImage::new_rgb8(32, 32),
        image::ImageFormat::Jpeg,
    );
    assert!(decode(&jpeg[..40]).is_err());
}

#[test]
fn missing_file_names_the_path() {
    let err = Image::load(Path::new("/nonexistent/x.png"), DEFAULT_MAX_PIXELS)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/x.png"), "{err}");
}

#[test]
fn grayscale_sixteen_bit_and_alpha_are_converted() {
    let gray = image::GrayImage::from_fn(4, 3, |x, _| image::Luma([x as u8 * 60]));
    let img = decode(&encode(gray.into(), image::ImageFormat::Png)).unwrap();
    assert_eq!((img.width, img.height), (4, 3));
    assert_eq!(img.data[1], img.data[12 + 1]); // R == G for gray

    let deep = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(5, 5, |_, _| {
        image::Rgb([65535u16, 0, 32768])
    });
    let img = decode(&encode(
        image::DynamicImage::ImageRgb16(deep),
        image::ImageFormat::Png,
    ))
    .unwrap();
    assert!((img.data[0] - 1.0).abs() < 1e-6 && (img.data[2 * 25] - 0.5).abs() < 1e-3);

    // Fully transparent black becomes white: alpha composited on white.
    let rgba = image::RgbaImage::from_fn(3, 3, |x, _| {
        if x == 0 {
            image::Rgba([0, 0, 0, 0])
        } else {
            image::Rgba([0, 0, 0, 255])
        }
    });
    let img = decode(&encode(rgba.into(), image::ImageFormat::Png)).unwrap();
    assert_eq!(img.data[0], 1.0);
    assert_eq!(img.data[1], 0.0);
}

#[test]
fn the_limit_is_configurable() {
    let png = encode(
        image::DynamicImage::new_rgb8(20, 20),
        image::ImageFormat::Png,
    );
    assert!(Image::decode(&png, Path::new("a.png"), 399).is_err());
    assert!(Image::decode(&png, Path::new("a.png"), 400).is_ok());
}

#[test]
fn png_round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.png");
    let img = Image {
        width: 2,
        height: 1,
        data: vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    };
    img.save(&path).unwrap();
    let back = Image::load(&path, DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!(back, img);
    let mut f = std::fs::File::create(dir.path().join("bad.png")).unwrap();
    f.write_all(b"\x89PNG\r\n").unwrap();
    assert!(Image::load(&dir.path().join("bad.png"), DEFAULT_MAX_PIXELS).is_err());
}

#[test]
fn cmyk_jpeg_is_converted_to_rgb() {
    // A 24×16 pure red made by Pillow in CMYK (0, 255, 255, 0).
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cmyk.jpg");
    // Or from the repository's root on another machine (scripts/gpu-check).
    let path = if built.exists() {
        built
    } else {
        Path::new("engine/tests/data/cmyk.jpg").to_owned()
    };
    let img = Image::load(&path, DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!((img.width, img.height), (24, 16));
    let n = 24 * 16;
    let (r, g, b) = (
        img.data[n / 2],
        img.data[n + n / 2],
        img.data[2 * n + n / 2],
    );
    assert!(r > 0.8 && g < 0.2 && b < 0.2, "rgb {r} {g} {b}");
}
