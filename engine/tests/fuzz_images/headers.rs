//! Where each format keeps its width and height, to set them to anything.

use super::*;

pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Sets the width and height every format's header states. Returns `false`
/// when the file is too damaged to find them (or the format cannot state
/// them); `w`, `h` are cut to the field's width (16 bits in GIF and JPEG,
/// 24 bits in WebP's VP8X).
pub(crate) fn set_size(format: ImageFormat, b: &mut Vec<u8>, w: u32, h: u32) -> bool {
    match format {
        ImageFormat::Png => {
            if b.len() < 33 || &b[12..16] != b"IHDR" {
                return false;
            }
            b[16..20].copy_from_slice(&w.to_be_bytes());
            b[20..24].copy_from_slice(&h.to_be_bytes());
            // A forger fixes the CRC, so the header reads as whole.
            let crc = crc32(&b[12..29]);
            b[29..33].copy_from_slice(&crc.to_be_bytes());
            true
        }
        ImageFormat::Gif => set_gif_size(b, w as u16, h as u16),
        ImageFormat::Jpeg => set_jpeg_size(b, w as u16, h as u16),
        ImageFormat::Bmp => {
            if b.len() < 26 {
                return false;
            }
            b[18..22].copy_from_slice(&(w as i32).to_le_bytes());
            b[22..26].copy_from_slice(&(h as i32).to_le_bytes());
            true
        }
        ImageFormat::Tiff => set_tiff_size(b, w, h),
        ImageFormat::WebP => set_webp_size(b, w, h),
        _ => false,
    }
}

/// The logical screen and the first image descriptor of a GIF.
pub(crate) fn set_gif_size(b: &mut [u8], w: u16, h: u16) -> bool {
    if b.len() < 13 || !b.starts_with(b"GIF8") {
        return false;
    }
    b[6..8].copy_from_slice(&w.to_le_bytes());
    b[8..10].copy_from_slice(&h.to_le_bytes());
    let table = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let mut i = 13 + table(b[10]);
    while let Some(&block) = b.get(i) {
        match block {
            0x21 => {
                // Extension: label, then sub-blocks up to a zero length.
                i += 2;
                while let Some(&n) = b.get(i) {
                    i += 1 + n as usize;
                    if n == 0 {
                        break;
                    }
                }
            }
            0x2C if i + 9 <= b.len() => {
                b[i + 5..i + 7].copy_from_slice(&w.to_le_bytes());
                b[i + 7..i + 9].copy_from_slice(&h.to_le_bytes());
                return true;
            }
            _ => return true,
        }
    }
    true
}

/// The start-of-frame segment of a JPEG.
pub(crate) fn set_jpeg_size(b: &mut [u8], w: u16, h: u16) -> bool {
    let mut i = 2;
    while i + 9 <= b.len() && b[i] == 0xFF {
        let code = b[i + 1];
        if matches!(code, 0xC0..=0xCF) && !matches!(code, 0xC4 | 0xC8 | 0xCC) {
            b[i + 5..i + 7].copy_from_slice(&h.to_be_bytes());
            b[i + 7..i + 9].copy_from_slice(&w.to_be_bytes());
            return true;
        }
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        i += 2 + len;
    }
    false
}

/// Tags 256 (ImageWidth) and 257 (ImageLength) of the first TIFF image
/// directory, rewritten as LONG values, and 278 (RowsPerStrip) set to
/// 2^32 − 1 ("the whole image in one strip"), so that the one strip's
/// count stays consistent with the new height.
pub(crate) fn set_tiff_size(b: &mut [u8], w: u32, h: u32) -> bool {
    let le = match b.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return false,
    };
    // A truncated file may end inside the header's IFD offset.
    if b.len() < 8 {
        return false;
    }
    let u16_at = |b: &[u8], i: usize| {
        let v = [b[i], b[i + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let put = |b: &mut [u8], i: usize, v: &[u8]| b[i..i + v.len()].copy_from_slice(v);
    let ifd = {
        let v = [b[4], b[5], b[6], b[7]];
        (if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }) as usize
    };
    if ifd + 2 > b.len() {
        return false;
    }
    let n = u16_at(b, ifd) as usize;
    let mut found = false;
    for e in (ifd + 2..ifd + 2 + 12 * n).step_by(12) {
        if e + 12 > b.len() {
            break;
        }
        let value = match u16_at(b, e) {
            256 => w,
            257 => h,
            278 => u32::MAX,
            _ => continue,
        };
        let (kind, count, value) = if le {
            (4u16.to_le_bytes(), 1u32.to_le_bytes(), value.to_le_bytes())
        } else {
            (4u16.to_be_bytes(), 1u32.to_be_bytes(), value.to_be_bytes())
        };
        put(b, e + 2, &kind);
        put(b, e + 4, &count);
        put(b, e + 8, &value);
        found = true;
    }
    found
}

/// A WebP's size: a VP8X chunk (the extended format's canvas, 24 bits a
/// side) put in front of the image, or its sizes changed when it has one.
pub(crate) fn set_webp_size(b: &mut Vec<u8>, w: u32, h: u32) -> bool {
    if b.len() < 20 || &b[..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return false;
    }
    let side = |v: u32| (v.clamp(1, 1 << 24) - 1).to_le_bytes();
    let (w, h) = (side(w), side(h));
    if &b[12..16] == b"VP8X" {
        if b.len() < 30 {
            return false;
        }
        b[24..27].copy_from_slice(&w[..3]);
        b[27..30].copy_from_slice(&h[..3]);
        return true;
    }
    let mut chunk = b"VP8X".to_vec();
    chunk.extend(10u32.to_le_bytes());
    chunk.extend([0; 4]);
    chunk.extend(&w[..3]);
    chunk.extend(&h[..3]);
    b.splice(12..12, chunk);
    let riff = (b.len() - 8) as u32;
    b[4..8].copy_from_slice(&riff.to_le_bytes());
    true
}
