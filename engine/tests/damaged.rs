//! Truncated and corrupt files are refused with a message that names the
//! file, says it is incomplete or corrupt and what to do, for every format;
//! whole files, also with data after their end, still decode.

mod common;

use std::path::Path;

use image::{DynamicImage, ImageFormat, RgbImage};
use stylefarm_engine::image::DEFAULT_MAX_PIXELS;
use stylefarm_engine::{EngineError, Image};

const FORMATS: [ImageFormat; 6] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::WebP,
    ImageFormat::Tiff,
    ImageFormat::Bmp,
];

/// A 40×30 picture with detail everywhere, so that every part of the file
/// carries pixels.
fn picture() -> DynamicImage {
    let mut r = common::lcg(7);
    RgbImage::from_fn(40, 30, |x, y| {
        let n = (r() * 40.0) as i32;
        image::Rgb([
            (x * 6) as u8,
            (y * 8) as u8,
            (128 + n + (x as i32 - y as i32) * 2) as u8,
        ])
    })
    .into()
}

fn encode(format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    picture().write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn decode(bytes: &[u8], name: &str) -> Result<Image, EngineError> {
    Image::decode(bytes, Path::new(name), DEFAULT_MAX_PIXELS)
}

fn assert_damaged(bytes: &[u8], name: &str, case: &str) {
    match decode(bytes, name) {
        Ok(img) => panic!(
            "{name} {case}: decoded to {}×{} instead of an error",
            img.width, img.height
        ),
        Err(e @ EngineError::DamagedImage { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(name), "{case}: {msg}");
            assert!(msg.contains("incomplete or corrupt"), "{case}: {msg}");
            assert!(msg.contains("download it again"), "{case}: {msg}");
        }
        Err(e) => panic!("{name} {case}: not reported as damaged: {e}"),
    }
}

#[test]
fn whole_files_of_every_format_decode() {
    for format in FORMATS {
        let bytes = encode(format);
        let img = decode(&bytes, "whole").unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!((img.width, img.height), (40, 30), "{format:?}");
    }
}

#[test]
fn files_cut_anywhere_are_refused() {
    for format in FORMATS {
        let bytes = encode(format);
        let name = format!("cut.{}", format.extensions_str()[0]);
        let len = bytes.len();
        for keep in [20, 60, len / 3, len / 2, len - 12, len - 2, len - 1] {
            assert_damaged(
                &bytes[..keep],
                &name,
                &format!("{format:?} cut to {keep} of {len} bytes"),
            );
        }
    }
}

#[test]
fn the_issue_case_a_photo_cut_after_3000_bytes() {
    let photo = std::fs::read(common::example_image("tubingen.jpg")).unwrap();
    assert!(decode(&photo, "tubingen.jpg").is_ok());
    assert_damaged(&photo[..3000], "cut.jpg", "head -c 3000");
    assert_damaged(&photo[..photo.len() / 2], "cut.jpg", "half");
}

#[test]
fn a_changed_byte_in_a_png_chunk_is_refused() {
    let bytes = encode(ImageFormat::Png);
    // In IHDR (the height), and in the middle of the image data.
    for at in [20, bytes.len() / 2] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        assert_damaged(&bad, "flipped.png", &format!("byte {at} changed"));
        let msg = decode(&bad, "flipped.png").unwrap_err().to_string();
        assert!(msg.contains("CRC"), "{msg}");
    }
}

#[test]
fn broken_structure_is_refused() {
    // A JPEG whose segment length points past the end of the file.
    let mut jpeg = encode(ImageFormat::Jpeg);
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    jpeg[sos + 2] = 0xFF;
    assert_damaged(&jpeg, "long.jpg", "SOS length past the end");

    // A WebP whose RIFF size promises more than the file holds.
    let mut webp = encode(ImageFormat::WebP);
    let size = u32::from_le_bytes(webp[4..8].try_into().unwrap()) + 100;
    webp[4..8].copy_from_slice(&size.to_le_bytes());
    assert_damaged(&webp, "long.webp", "RIFF size too large");

    // A GIF whose only block is unknown.
    let mut gif = encode(ImageFormat::Gif);
    let table = 3 << ((gif[10] & 7) + 1);
    let first = 13 + if gif[10] & 0x80 != 0 { table } else { 0 };
    gif[first] = 0x99;
    assert_damaged(&gif, "odd.gif", "unknown block");
}

#[test]
fn data_after_the_end_is_allowed() {
    // Cameras and editors append data after EOI/IEND/the trailer; viewers show such files.
    for format in [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::WebP,
    ] {
        let mut bytes = encode(format);
        bytes.extend(b"trailing data that is not part of the picture");
        let img = decode(&bytes, "trailing").unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!((img.width, img.height), (40, 30), "{format:?}");
    }
}

#[test]
fn every_example_picture_is_whole() {
    for entry in std::fs::read_dir(common::example_image("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e != "md") {
            Image::load(&path, DEFAULT_MAX_PIXELS)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
