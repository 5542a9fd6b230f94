//! Fuzzing of picture files (issue 16, "Nobody gets in who does not belong").
//!
//! Every picture a job names (contents, styles, init pictures, region maps)
//! was uploaded by someone, and a worker decodes it with [`Image::decode`]
//! (region maps with [`Mask::decode`]). A forged or damaged file must give a
//! clear error, never a panic, a hang or an allocation its header talks the
//! decoder into. Here proptest takes small valid files of every supported
//! format (PNG, JPEG, GIF, TIFF, WebP, BMP, made in the test with the
//! `image` crate) and damages them: bits flipped and bytes overwritten in
//! the header (first 64 bytes) and in the body, bytes inserted and removed,
//! files cut short, slices copied elsewhere, and the header's width and
//! height set to huge or odd values; and it feeds bytes that only start
//! like a picture.
//!
//! The properties: decoding never panics and takes well under 5 s; it
//! gives a picture within the pixel limit whose size and data agree, or an
//! error that names the file and says what is wrong; the largest single
//! allocation stays within what the pixel limit allows, whatever the header
//! claims. And explicitly: a header of each format claiming 100 000 ×
//! 100 000 pixels (65 535 × 65 535 where the format's fields stop there) is
//! refused as too large before any buffer for its pixels is allocated.
//!
//! Cases proptest finds are kept in `main.proptest-regressions` and as plain
//! tests at the end of this file.

mod allocations;
mod headers;

use std::io::Cursor;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use stylefarm_engine::image::DEFAULT_MAX_PIXELS;
use stylefarm_engine::{EngineError, Image, Mask};
use stylefarm_fuzzing::config;

use allocations::measured;
use headers::set_size;

// ------------------------------------------------------------ pictures

/// The pixel limit of the fuzzed decodes: 256 × 256. Small, so that a
/// header may claim more than the limit or just under it, and the largest
/// allocation it allows is small enough to check.
const MAX_PIXELS: u64 = 1 << 16;

/// Largest single allocation a decode within [`MAX_PIXELS`] may need: the
/// decoder's buffer and the float conversion are 16 bytes a pixel; the
/// decoders' own tables and windows stay far below the slack.
const MAX_ALLOCATION: usize = MAX_PIXELS as usize * 16 + (8 << 20);

/// Far above what decoding a 16 × 12 picture (or anything within
/// [`MAX_PIXELS`]) takes; a decoder looping on a damaged file fails here.
const SLOW: Duration = Duration::from_secs(5);

const FORMATS: [ImageFormat; 6] = [
    ImageFormat::Png,
    ImageFormat::Jpeg,
    ImageFormat::Gif,
    ImageFormat::Tiff,
    ImageFormat::WebP,
    ImageFormat::Bmp,
];

/// A 16 × 12 region map: three flat colours, as a painted mask would be.
fn picture() -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(16, 12, |x, y| match (x < 8, y < 6) {
        (true, _) => Rgb([220, 30, 30]),
        (false, true) => Rgb([30, 30, 220]),
        (false, false) => Rgb([30, 200, 30]),
    }))
}

fn encode(format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    picture().write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// The valid files the mutations start from, one per format.
static FILES: LazyLock<Vec<(ImageFormat, Vec<u8>)>> =
    LazyLock::new(|| FORMATS.iter().map(|&f| (f, encode(f))).collect());

fn file(format: ImageFormat) -> Vec<u8> {
    FILES.iter().find(|(f, _)| *f == format).unwrap().1.clone()
}

fn name(format: ImageFormat) -> String {
    format!("fuzz.{}", format.extensions_str()[0])
}

// ------------------------------------------------------------ properties

/// An error for a picture: names the file, says what is wrong.
fn check_error(e: &EngineError, name: &str, mask: bool) -> Result<(), TestCaseError> {
    let message = e.to_string();
    let reason = match e {
        EngineError::BadImage { reason, .. } | EngineError::DamagedImage { reason, .. } => {
            reason.clone()
        }
        EngineError::ImageTooLarge {
            width,
            height,
            pixels,
            limit,
            ..
        } => {
            prop_assert_eq!(width * height, *pixels);
            prop_assert!(pixels > limit, "{message}");
            prop_assert!(message.contains("pixels"), "{message}");
            "too large".into()
        }
        EngineError::BadMask { reason, .. } if mask => reason.clone(),
        other => return Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
    };
    prop_assert!(!reason.trim().is_empty(), "no reason: {message}");
    prop_assert!(message.contains(name), "the file is not named: {message}");
    prop_assert!(message.len() < 1_000, "{message}");
    Ok(())
}

/// Decodes `bytes` as a picture and as a region map and checks both.
fn check_decode(bytes: &[u8], name: &str) -> Result<(), TestCaseError> {
    let path = Path::new(name);
    let (image, took, largest) = measured(|| Image::decode(bytes, path, MAX_PIXELS));
    prop_assert!(took < SLOW, "decoding took {took:?}");
    prop_assert!(
        largest <= MAX_ALLOCATION,
        "decoding allocated {largest} bytes at once"
    );
    match image {
        Ok(img) => {
            let pixels = img.width * img.height;
            prop_assert!(pixels > 0 && pixels as u64 <= MAX_PIXELS);
            prop_assert_eq!(img.data.len(), 3 * pixels);
            prop_assert!(img.data.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        Err(e) => check_error(&e, name, false)?,
    }
    let (mask, took, largest) = measured(|| Mask::decode(bytes, path, MAX_PIXELS));
    prop_assert!(took < SLOW, "decoding the mask took {took:?}");
    prop_assert!(largest <= MAX_ALLOCATION);
    match mask {
        Ok(m) => {
            prop_assert!(m.width() * m.height() > 0);
            prop_assert!((m.width() * m.height()) as u64 <= MAX_PIXELS);
            prop_assert_eq!(m.labels().len(), m.width() * m.height());
            let regions = m.colours().len();
            prop_assert!((1..=stylefarm_engine::guide::MAX_REGIONS).contains(&regions));
            prop_assert!(m.labels().iter().all(|&l| (l as usize) < regions));
        }
        Err(e) => check_error(&e, name, true)?,
    }
    Ok(())
}

// ------------------------------------------------------------ strategies

/// One change to a file.
#[derive(Debug, Clone)]
enum Mutation {
    /// A bit flipped in the first 64 bytes.
    HeaderFlip(Index, u8),
    /// A byte of the first 64 overwritten.
    HeaderByte(Index, u8),
    /// A bit flipped anywhere.
    Flip(Index, u8),
    /// A byte overwritten anywhere, with a value that often means
    /// something to a parser (0, 0xFF, 0x7F, …).
    Byte(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Truncate(Index),
    /// A slice copied elsewhere (a chunk, a marker, a block repeated).
    Splice(Index, Index, usize),
    /// The header's width and height.
    Size(u32, u32),
}

fn side() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(255),
        Just(256),
        Just(257),
        Just(4_096),
        Just(16_384),
        Just(65_535),
        Just(100_000),
        Just(i32::MAX as u32),
        Just(1 << 31),
        Just(u32::MAX),
        1u32..512,
        any::<u32>(),
    ]
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0),
        Just(0xFF),
        Just(0x7F),
        Just(0x80),
        Just(1),
        any::<u8>()
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::HeaderFlip(i, b)),
        3 => (any::<Index>(), byte()).prop_map(|(i, b)| Mutation::HeaderByte(i, b)),
        2 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<Index>(), byte()).prop_map(|(i, b)| Mutation::Byte(i, b)),
        1 => (any::<Index>(), prop::collection::vec(byte(), 1..32))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..32).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>(), 1usize..64)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
        2 => (side(), side()).prop_map(|(w, h)| Mutation::Size(w, h)),
    ]
}

fn mutate(format: ImageFormat, b: &mut Vec<u8>, m: &Mutation) {
    let len = b.len();
    let header = len.min(64);
    match m {
        Mutation::HeaderFlip(i, bit) if header > 0 => b[i.index(header)] ^= 1 << bit,
        Mutation::HeaderByte(i, v) if header > 0 => b[i.index(header)] = *v,
        Mutation::Flip(i, bit) if len > 0 => b[i.index(len)] ^= 1 << bit,
        Mutation::Byte(i, v) if len > 0 => b[i.index(len)] = *v,
        Mutation::Insert(i, bytes) => {
            let i = i.index(len + 1);
            b.splice(i..i, bytes.iter().copied());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let i = i.index(len);
            b.drain(i..(i + n).min(len));
        }
        Mutation::Truncate(i) => b.truncate(i.index(len + 1)),
        Mutation::Splice(from, to, n) if len > 0 => {
            let from = from.index(len);
            let piece = b[from..(from + n).min(len)].to_vec();
            let to = to.index(len + 1);
            b.splice(to..to, piece);
        }
        Mutation::Size(w, h) => {
            set_size(format, b, *w, *h);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(8_000))]

    /// A valid file of any format, damaged in up to four places.
    #[test]
    fn damaged_files_decode_or_fail_cleanly(
        format in select(&FORMATS[..]),
        mutations in prop::collection::vec(mutation(), 1..=4),
    ) {
        let mut bytes = file(format);
        for m in &mutations {
            mutate(format, &mut bytes, m);
        }
        check_decode(&bytes, &name(format))?;
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    /// Bytes that only start like a picture: each format's signature (or
    /// the first bytes of a valid file), then anything.
    #[test]
    fn bytes_behind_a_signature_decode_or_fail_cleanly(
        format in select(&FORMATS[..]),
        keep in 0usize..64,
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = file(format);
        bytes.truncate(keep.max(4));
        bytes.extend(rest);
        check_decode(&bytes, &name(format))?;
    }
}

/// The files the mutations start from are whole and decode as the picture
/// and the region map they are, so the properties start from files the
/// decoders accept.
#[test]
fn every_format_decodes_before_it_is_damaged() {
    for (format, bytes) in FILES.iter() {
        let image = Image::decode(bytes, Path::new(&name(*format)), MAX_PIXELS)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!((image.width, image.height), (16, 12), "{format:?}");
        let mask = Mask::decode(bytes, Path::new(&name(*format)), MAX_PIXELS)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(mask.colours().len(), 3, "{format:?}");
    }
}

/// The mutations reach every outcome in every format, so the fuzzing is no
/// walk through one early refusal: with a fixed seed, each format's
/// damaged files are sometimes still decoded, sometimes refused as too
/// large and sometimes as damaged or unreadable.
#[test]
fn damaged_files_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(mutation(), 1..=4);
    let mut counts = Vec::new();
    for format in FORMATS {
        let (mut decoded, mut too_large, mut refused) = (0, 0, 0);
        for _ in 0..400 {
            let mutations = strategy.new_tree(&mut runner).unwrap().current();
            let mut bytes = file(format);
            for m in &mutations {
                mutate(format, &mut bytes, m);
            }
            match Image::decode(&bytes, Path::new("x"), MAX_PIXELS) {
                Ok(_) => decoded += 1,
                Err(EngineError::ImageTooLarge { .. }) => too_large += 1,
                Err(_) => refused += 1,
            }
        }
        counts.push((format, decoded, too_large, refused));
    }
    // PNG's CRCs and WebP's lossless coding catch nearly every change:
    // only a few of those decode (with the fixed seed: 2 PNG, 4 WebP).
    assert!(
        counts
            .iter()
            .all(|&(_, decoded, too_large, refused)| decoded >= 1
                && too_large >= 5
                && refused >= 5),
        "(format, decoded, too large, refused) of 400: {counts:?}"
    );
}

/// A header of every format claiming a picture far past the default limit
/// (100 000 × 100 000 = 10 gigapixels; 65 535 × 65 535 in GIF and JPEG,
/// whose fields are 16 bits, and in BMP, whose decoder refuses wider
/// sides itself; 60 000 × 60 000 in WebP, whose decoder refuses canvases
/// past 2^32 pixels itself, see below) is refused as too large,
/// naming its size, before anything the size of its pixels is allocated.
#[test]
fn huge_headers_are_refused_before_allocating() {
    for format in FORMATS {
        let (w, h) = match format {
            ImageFormat::Gif | ImageFormat::Jpeg | ImageFormat::Bmp => (65_535, 65_535),
            ImageFormat::WebP => (60_000, 60_000),
            _ => (100_000, 100_000),
        };
        let mut bytes = file(format);
        assert!(set_size(format, &mut bytes, w, h), "{format:?}");
        let name = name(format);
        let (image, took, largest) =
            measured(|| Image::decode(&bytes, Path::new(&name), DEFAULT_MAX_PIXELS));
        let e = image.unwrap_err();
        match &e {
            EngineError::ImageTooLarge {
                width,
                height,
                pixels,
                limit,
                ..
            } => {
                assert_eq!((*width, *height), (w as u64, h as u64), "{format:?}: {e}");
                assert_eq!(*pixels, w as u64 * h as u64);
                assert_eq!(*limit, DEFAULT_MAX_PIXELS);
            }
            other => panic!("{format:?}: not refused as too large: {other}"),
        }
        let message = e.to_string();
        assert!(
            message.contains(&format!("{w}×{h}")) && message.contains("pixels"),
            "{format:?}: {message}"
        );
        assert!(message.contains(&name), "{message}");
        // The file is a few hundred bytes; nothing near its claimed pixels
        // (tens of gigabytes) may have been allocated, nor a megabyte.
        assert!(largest < 1 << 20, "{format:?}: allocated {largest} bytes");
        assert!(took < SLOW, "{format:?}: {took:?}");

        // A region map is read the same way.
        let e = Mask::decode(&bytes, Path::new(&name), DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(
            matches!(e, EngineError::ImageTooLarge { .. }),
            "{format:?}: {e}"
        );
    }
}

/// A WebP canvas of 100 000 × 100 000 pixels is past what the WebP
/// decoder reads at all (more than 2^32 pixels): it is refused while the
/// header is read, saying so, with nothing allocated for its pixels.
#[test]
fn a_webp_canvas_past_four_gigapixels_is_refused_by_its_decoder() {
    let mut bytes = file(ImageFormat::WebP);
    assert!(set_size(ImageFormat::WebP, &mut bytes, 100_000, 100_000));
    let (image, took, largest) =
        measured(|| Image::decode(&bytes, Path::new("huge.webp"), DEFAULT_MAX_PIXELS));
    let e = image.unwrap_err();
    let message = e.to_string();
    assert!(
        message.to_lowercase().contains("too large") && message.contains("huge.webp"),
        "{message}"
    );
    assert!(largest < 1 << 20, "allocated {largest} bytes");
    assert!(took < SLOW);
}

/// Just past the limit is refused, and just within it is not refused as
/// too large: the limit is the header's width × height, not less.
#[test]
fn the_limit_is_width_times_height() {
    for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Tiff] {
        let mut bytes = file(format);
        set_size(format, &mut bytes, 256, 257);
        let e = Image::decode(&bytes, Path::new("x"), MAX_PIXELS).unwrap_err();
        assert!(
            matches!(e, EngineError::ImageTooLarge { pixels: 65_792, .. }),
            "{format:?}: {e}"
        );
        let mut bytes = file(format);
        set_size(format, &mut bytes, 256, 256);
        match Image::decode(&bytes, Path::new("x"), MAX_PIXELS) {
            // The 16 × 12 pixels do not fill 256 × 256: damaged, not too large.
            Err(EngineError::ImageTooLarge { .. }) => panic!("{format:?}: refused as too large"),
            Err(_) => {}
            Ok(img) => assert_eq!((img.width, img.height), (256, 256)),
        }
    }
}

// ------------------------------------------------------------ regressions

/// Found by `damaged_files_decode_or_fail_cleanly`: in the encoded 16 × 12
/// TIFF, byte 644 (the third byte of the value count of BitsPerSample,
/// tag 258) set to 5 makes it claim 327 683 values; the `tiff` crate
/// allocated a 10 MiB vector for them while reading the header, before
/// finding the 786-byte file has none of them. The file's structure is now
/// checked first, so it is refused as damaged without that allocation.
#[test]
fn a_tiff_tag_count_does_not_make_the_decoder_allocate() {
    let mut bytes = file(ImageFormat::Tiff);
    assert_eq!(
        bytes.len(),
        786,
        "the encoder's output changed: find the byte again"
    );
    assert_eq!(&bytes[638..640], &258u16.to_le_bytes(), "BitsPerSample");
    bytes[644] = 5;
    let (image, _, largest) = measured(|| Image::decode(&bytes, Path::new("x.tiff"), MAX_PIXELS));
    let e = image.unwrap_err();
    assert!(matches!(e, EngineError::DamagedImage { .. }), "{e}");
    assert!(e.to_string().contains("tag 258"), "{e}");
    assert!(largest < 1 << 20, "allocated {largest} bytes");
}
