//! Colour clustering against anti-aliasing and JPEG noise, region sizes,
//! area resampling.

use std::path::Path;

use super::*;

const RED: [u8; 3] = [230, 20, 30];
const BLUE: [u8; 3] = [20, 40, 200];
const GREEN: [u8; 3] = [30, 180, 60];

/// A red disc on blue, anti-aliased: each pixel blends the two colours by the
/// share of its 4×4 subsamples inside the disc.
fn disc(size: usize) -> (Image, Vec<bool>) {
    let n = size * size;
    let mut data = vec![0f32; 3 * n];
    let mut inside = vec![false; n];
    let (cx, cy, r) = (size as f64 * 0.55, size as f64 * 0.45, size as f64 * 0.3);
    for y in 0..size {
        for x in 0..size {
            let mut cover = 0.0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let px = x as f64 + (sx as f64 + 0.5) / 4.0;
                    let py = y as f64 + (sy as f64 + 0.5) / 4.0;
                    if (px - cx).powi(2) + (py - cy).powi(2) < r * r {
                        cover += 1.0 / 16.0;
                    }
                }
            }
            let i = y * size + x;
            inside[i] = cover > 0.5;
            for c in 0..3 {
                let v = cover * RED[c] as f64 + (1.0 - cover) * BLUE[c] as f64;
                data[c * n + i] = (v.round() / 255.0) as f32;
            }
        }
    }
    let img = Image {
        width: size,
        height: size,
        data,
    };
    (img, inside)
}

fn agreement(mask: &Mask, inside: &[bool]) -> f64 {
    let red = mask
        .colours()
        .iter()
        .position(|&c| distance(c, RED) <= COLOUR_TOLERANCE)
        .expect("a red region") as u8;
    let same = mask
        .labels()
        .iter()
        .zip(inside)
        .filter(|(l, i)| (**l == red) == **i)
        .count();
    same as f64 / inside.len() as f64
}

#[test]
fn anti_aliased_edges_make_no_regions_of_their_own() {
    let (img, inside) = disc(64);
    let mask = Mask::from_image(&img).unwrap();
    // Blue covers more of the picture, so it comes first.
    assert_eq!(mask.colours(), &[BLUE, RED]);
    // Edge pixels go to the nearer colour: the same as "more than half covered",
    // give or take the pixels whose blend is near one half.
    let agree = agreement(&mask, &inside);
    assert!(agree > 0.99, "{agree}");
}

#[test]
fn jpeg_noise_keeps_the_regions_and_their_colours() {
    let (img, inside) = disc(64);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 50)
        .encode_image(&img.to_rgb8())
        .unwrap();
    let noisy = Image::decode(&jpeg, Path::new("disc.jpg"), 1 << 20).unwrap();
    assert_ne!(noisy, img, "the JPEG round trip should add noise");
    let mask = Mask::decode(&jpeg, Path::new("disc.jpg"), 1 << 20).unwrap();
    assert_eq!(mask.colours().len(), 2, "{:?}", mask.colours());
    assert!(distance(mask.colours()[0], BLUE) <= COLOUR_TOLERANCE);
    assert!(distance(mask.colours()[1], RED) <= COLOUR_TOLERANCE);
    let agree = agreement(&mask, &inside);
    assert!(agree > 0.97, "{agree}");
}

#[test]
fn a_small_flat_region_counts_and_a_photo_is_refused() {
    let (mut img, _) = disc(64);
    let n = 64 * 64;
    // A 4×4 green square: 0.4 % of the picture.
    for y in 2..6 {
        for x in 2..6 {
            for (c, v) in GREEN.iter().enumerate() {
                img.data[c * n + y * 64 + x] = *v as f32 / 255.0;
            }
        }
    }
    let mask = Mask::from_image(&img).unwrap();
    assert_eq!(mask.colours(), &[BLUE, RED, GREEN]);

    let mut s = 1u64;
    let noise: Vec<f32> = (0..3 * 200 * 200)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let photo = Image {
        width: 200,
        height: 200,
        data: noise,
    };
    let err = Mask::from_image(&photo).unwrap_err().to_string();
    assert!(err.contains("photo") || err.contains("flat"), "{err}");
}

#[test]
fn unreadable_masks_name_the_file() {
    let err = Mask::decode(b"not a picture", Path::new("sky_mask.png"), 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mask sky_mask.png") && err.contains("cannot read"),
        "{err}"
    );
    let err = Mask::load(Path::new("/nonexistent/m.png"), 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/m.png"), "{err}");
}

#[test]
fn region_maps_average_areas_and_sum_to_one() {
    // Left 3 columns region 0, right 1 column region 1, 4×2.
    let labels = vec![0, 0, 0, 1, 0, 0, 0, 1];
    let mask = Mask::from_labels(4, 2, vec![RED, BLUE], labels).unwrap();
    // Down to 2×1: the right cell covers one column of each region.
    let m = mask.region_maps(2, 1);
    assert_eq!(m, vec![1.0, 0.5, 0.0, 0.5]);
    // Up to 8×3 (stretched): columns 0..6 region 0, 6..8 region 1.
    let m = mask.region_maps(8, 3);
    for y in 0..3 {
        for x in 0..8 {
            let (a, b) = (m[y * 8 + x], m[24 + y * 8 + x]);
            assert_eq!(a + b, 1.0);
            assert_eq!(a, if x < 6 { 1.0 } else { 0.0 }, "({x}, {y})");
        }
    }
    // 4 → 3 columns: the middle cell straddles columns 1 and 2.
    let m = mask.region_maps(3, 1);
    let expect = [1.0, 1.0, 0.25];
    for (x, e) in expect.iter().enumerate() {
        assert!((m[x] - e).abs() < 1e-6, "{x}: {} vs {e}", m[x]);
        assert!((m[x] + m[3 + x] - 1.0).abs() < 1e-6);
    }
    assert!(
        Mask::uniform(5, 4, RED)
            .region_maps(7, 3)
            .iter()
            .all(|&v| v == 1.0)
    );
}

#[test]
fn bad_labels_are_refused() {
    assert!(Mask::from_labels(2, 2, vec![RED], vec![0, 0, 0]).is_err());
    assert!(Mask::from_labels(2, 1, vec![RED], vec![0, 1]).is_err());
    assert!(Mask::from_labels(1, 1, vec![], vec![0]).is_err());
    let m = Mask::from_labels(2, 1, vec![RED, BLUE], vec![1, 0]).unwrap();
    let err = Mask::from_image(&m.to_image()).unwrap_err().to_string();
    assert!(err.contains("no flat"), "{err}");
    assert_eq!(hex(RED), "#e6141e");
}
