//! Every picture is decoded upright: the EXIF orientation of JPEG (APP1),
//! PNG (`eXIf`), WebP (`EXIF`) and TIFF (tag 0x0112) files is applied, all 8
//! values, and the decoded [`Image`] carries none. The files are built here:
//! a 48×32 picture of six coloured 16×16 cells, encoded, with the Exif block
//! inserted by hand.

use std::path::Path;

use image::{ImageFormat, RgbImage};
use stylefarm_engine::Image;
use stylefarm_engine::image::DEFAULT_MAX_PIXELS;

const CELL: u32 = 16;
const W: u32 = 3 * CELL;
const H: u32 = 2 * CELL;

/// Six distinct colours, one per cell of the stored 3 × 2 grid.
fn cell_color(cx: u32, cy: u32) -> [u8; 3] {
    const COLORS: [[u8; 3]; 6] = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [0, 255, 255],
        [255, 0, 255],
    ];
    COLORS[(cy * 3 + cx) as usize]
}

fn stored() -> RgbImage {
    RgbImage::from_fn(W, H, |x, y| image::Rgb(cell_color(x / CELL, y / CELL)))
}

/// The stored pixel that orientation `o` shows at `(x, y)`, from the meaning
/// of the tag in TIFF 6.0 / EXIF 2.3 ("the 0th row is the visual …, the 0th
/// column is the visual …"), written out independently of the decoder.
fn source(o: u8, x: u32, y: u32) -> (u32, u32) {
    match o {
        1 => (x, y),
        2 => (W - 1 - x, y),
        3 => (W - 1 - x, H - 1 - y),
        4 => (x, H - 1 - y),
        5 => (y, x),
        6 => (y, H - 1 - x),
        7 => (W - 1 - y, H - 1 - x),
        8 => (W - 1 - y, x),
        _ => unreachable!(),
    }
}

/// A TIFF structure holding one IFD with one entry: Orientation = `o`.
fn exif(o: u8, big_endian: bool) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut t = if big_endian {
        b"MM\0*".to_vec()
    } else {
        b"II*\0".to_vec()
    };
    t.extend(u32b(8));
    t.extend(u16b(1));
    t.extend(u16b(0x0112));
    t.extend(u16b(3)); // SHORT
    t.extend(u32b(1));
    t.extend(u16b(o as u16));
    t.extend([0, 0]);
    t.extend(u32b(0)); // no next IFD
    t
}

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 100);
            img.write_with_encoder(enc).unwrap();
        }
        _ => img.write_to(&mut out, format).unwrap(),
    }
    out.into_inner()
}

fn jpeg_with(o: u8) -> Vec<u8> {
    let jpeg = encode(&stored(), ImageFormat::Jpeg);
    let tiff = exif(o, o.is_multiple_of(2));
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend(b"Exif\0\0");
    app1.extend(&tiff);
    // Right after SOI, where cameras put it.
    [&jpeg[..2], &app1[..], &jpeg[2..]].concat()
}

fn png_chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend(kind);
    c.extend(data);
    c.extend(crc32fast::hash(&[kind, data].concat()).to_be_bytes());
    c
}

fn png_with(o: u8) -> Vec<u8> {
    let png = encode(&stored(), ImageFormat::Png);
    // Signature (8) + IHDR (25), then eXIf before the image data.
    let at = 8 + 25;
    [
        &png[..at],
        &png_chunk(b"eXIf", &exif(o, !o.is_multiple_of(2)))[..],
        &png[at..],
    ]
    .concat()
}

fn riff_chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut c = kind.to_vec();
    c.extend((data.len() as u32).to_le_bytes());
    c.extend(data);
    if data.len() % 2 == 1 {
        c.push(0);
    }
    c
}

/// The lossless WebP the encoder writes, rewrapped in the extended format
/// (VP8X with the EXIF flag, the VP8L chunk, an EXIF chunk).
fn webp_with(o: u8) -> Vec<u8> {
    let simple = encode(&stored(), ImageFormat::WebP);
    assert_eq!(&simple[12..16], b"VP8L");
    let mut vp8x = vec![0x08, 0, 0, 0];
    vp8x.extend(&(W - 1).to_le_bytes()[..3]);
    vp8x.extend(&(H - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(&simple[12..]);
    body.extend(riff_chunk(b"EXIF", &exif(o, o.is_multiple_of(2))));
    let mut out = b"RIFF".to_vec();
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// An uncompressed little-endian RGB TIFF with its Orientation tag = `o`.
fn tiff_with(o: u8) -> Vec<u8> {
    let pixels = stored().into_raw();
    let entries: [(u16, u16, u32); 11] = [
        (256, 3, W),                   // ImageWidth
        (257, 3, H),                   // ImageLength
        (258, 3, 3),                   // BitsPerSample: 3 values, stored below
        (259, 3, 1),                   // Compression: none
        (262, 3, 2),                   // PhotometricInterpretation: RGB
        (273, 4, 0),                   // StripOffsets: filled in below
        (274, 3, o as u32),            // Orientation
        (277, 3, 3),                   // SamplesPerPixel
        (278, 3, H),                   // RowsPerStrip
        (279, 4, pixels.len() as u32), // StripByteCounts
        (284, 3, 1),                   // PlanarConfiguration: chunky
    ];
    let ifd_len = 2 + 12 * entries.len() + 4;
    let bits_at = 8 + ifd_len;
    let data_at = bits_at + 6;
    let mut t = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    t.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        let count: u32 = if tag == 258 { 3 } else { 1 };
        let value = match tag {
            258 => bits_at as u32,
            273 => data_at as u32,
            _ => value,
        };
        t.extend(tag.to_le_bytes());
        t.extend(kind.to_le_bytes());
        t.extend(count.to_le_bytes());
        if kind == 3 && count == 1 {
            t.extend((value as u16).to_le_bytes());
            t.extend([0, 0]);
        } else {
            t.extend(value.to_le_bytes());
        }
    }
    t.extend(0u32.to_le_bytes());
    for _ in 0..3 {
        t.extend(8u16.to_le_bytes());
    }
    t.extend(pixels);
    t
}

/// Decodes `bytes` and checks size and every cell against [`source`].
fn assert_upright(bytes: &[u8], o: u8, what: &str, tolerance: f32) {
    let img = Image::decode(bytes, Path::new(what), DEFAULT_MAX_PIXELS)
        .unwrap_or_else(|e| panic!("{what} orientation {o}: {e}"));
    let (w, h) = if o >= 5 { (H, W) } else { (W, H) };
    assert_eq!(
        (img.width, img.height),
        (w as usize, h as usize),
        "{what} orientation {o}: size"
    );
    let n = img.width * img.height;
    for y in (CELL / 2..h).step_by(CELL as usize) {
        for x in (CELL / 2..w).step_by(CELL as usize) {
            let (sx, sy) = source(o, x, y);
            let want = cell_color(sx / CELL, sy / CELL);
            let i = y as usize * img.width + x as usize;
            for c in 0..3 {
                let got = img.data[c * n + i];
                let want = want[c] as f32 / 255.0;
                assert!(
                    (got - want).abs() <= tolerance,
                    "{what} orientation {o}: pixel ({x}, {y}) channel {c} is {got}, want {want}"
                );
            }
        }
    }
}

#[test]
fn jpeg_exif_orientation_all_eight() {
    for o in 1..=8 {
        assert_upright(&jpeg_with(o), o, "o.jpg", 0.1);
    }
}

#[test]
fn png_exif_orientation_all_eight() {
    for o in 1..=8 {
        assert_upright(&png_with(o), o, "o.png", 0.0);
    }
}

#[test]
fn webp_exif_orientation_all_eight() {
    for o in 1..=8 {
        assert_upright(&webp_with(o), o, "o.webp", 0.0);
    }
}

#[test]
fn tiff_orientation_tag_all_eight() {
    for o in 1..=8 {
        assert_upright(&tiff_with(o), o, "o.tiff", 0.0);
    }
}

#[test]
fn no_or_invalid_orientation_leaves_the_picture_as_stored() {
    assert_upright(&encode(&stored(), ImageFormat::Jpeg), 1, "plain.jpg", 0.1);
    assert_upright(&encode(&stored(), ImageFormat::Png), 1, "plain.png", 0.0);
    // 0 and 9 are not orientations: ignored, as viewers do.
    for bad in [0, 9] {
        assert_upright(&png_with(bad), 1, "bad.png", 0.0);
    }
}

#[test]
fn a_rotated_picture_saves_upright_without_a_tag() {
    let img = Image::decode(&jpeg_with(6), Path::new("o.jpg"), DEFAULT_MAX_PIXELS).unwrap();
    let png = img.encode_png().unwrap();
    // What the engine writes has no eXIf chunk: viewers show it as decoded.
    assert!(!png.windows(4).any(|w| w == b"eXIf"));
    let back = Image::decode(&png, Path::new("back.png"), DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!((back.width, back.height), (H as usize, W as usize));
}

#[test]
fn the_pixel_limit_uses_the_stored_size() {
    // 48 × 32 = 1536 pixels either way round.
    let bytes = jpeg_with(6);
    assert!(Image::decode(&bytes, Path::new("o.jpg"), 1535).is_err());
    assert!(Image::decode(&bytes, Path::new("o.jpg"), 1536).is_ok());
}
