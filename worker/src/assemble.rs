//! `assemble` tasks: combine earlier tasks' pictures into one deliverable.
//!
//! - `sheet` (grids): a labelled contact sheet `sheet.png`, and each cell
//!   copied to `cells/<name>.png`.
//! - `gallery`: the sheet, and a self-contained static page
//!   `gallery/index.html` with `gallery/images/` (full pictures) and
//!   `gallery/thumbs/`, captioned with each picture's settings.

use std::fmt::Write as _;
use std::path::Path;

use bytes::Bytes;
use stylefarm_engine::Image;
use stylefarm_spec::task::{AssembleTask, Mosaic, Sheet};

use crate::error::WorkerError;
use crate::font;
use crate::task::Context;

/// Long side of a contact-sheet cell and of a gallery thumbnail, at most.
const CELL_SIDE: usize = 256;
const THUMB_SIDE: usize = 160;
const PAD: usize = 4;
const FONT_SCALE: usize = 2;

pub(crate) async fn run(
    ctx: &Context,
    prefix: &str,
    task: &AssembleTask,
) -> Result<Vec<String>, WorkerError> {
    let (sheet, gallery) = match task {
        AssembleTask::Tiles(mosaic) => return tiles(ctx, prefix, mosaic).await,
        AssembleTask::Sheet(sheet) => (sheet, false),
        AssembleTask::Gallery(sheet) => (sheet, true),
    };
    let mut files = Vec::with_capacity(sheet.cells.len());
    for cell in &sheet.cells {
        let name = file_name(&cell.key)?;
        let bytes = ctx.objects.get(&cell.key).await?;
        files.push((name, bytes));
    }
    let max_pixels = ctx.limits.max_pixels;
    let p = sheet.clone();
    let decoded = files.clone();
    let (png, thumbs) =
        tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Vec<Vec<u8>>), WorkerError> {
            let images = decoded
                .iter()
                .map(|(name, b)| Image::decode(b, Path::new(name), max_pixels))
                .collect::<Result<Vec<_>, _>>()?;
            let png = contact_sheet(&p, &images).encode_png()?;
            let thumbs = if gallery {
                images
                    .iter()
                    .map(|i| {
                        i.resize_long_side(THUMB_SIDE.min(i.width.max(i.height)))
                            .encode_png()
                    })
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                Vec::new()
            };
            Ok((png, thumbs))
        })
        .await
        .map_err(|e| WorkerError::Join(e.to_string()))??;

    let mut keys = Vec::new();
    let out = Out { ctx, prefix };
    out.put(&mut keys, "sheet.png".into(), png).await?;
    if gallery {
        for ((name, bytes), thumb) in files.iter().zip(thumbs) {
            out.put(&mut keys, format!("gallery/images/{name}"), bytes.to_vec())
                .await?;
            out.put(&mut keys, format!("gallery/thumbs/{name}"), thumb)
                .await?;
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        out.put(
            &mut keys,
            "gallery/index.html".into(),
            page(sheet, &names).into_bytes(),
        )
        .await?;
    } else {
        for (name, bytes) in &files {
            out.put(&mut keys, format!("cells/{name}"), bytes.to_vec())
                .await?;
        }
    }
    Ok(keys)
}

/// highres: the tiles of one scale feathered into the whole picture
/// (`output_name` below the prefix).
async fn tiles(ctx: &Context, prefix: &str, mosaic: &Mosaic) -> Result<Vec<String>, WorkerError> {
    let mut files = Vec::with_capacity(mosaic.tiles.len());
    for tile in &mosaic.tiles {
        files.push((tile.key.clone(), ctx.objects.get(&tile.key).await?));
    }
    let max_pixels = ctx.limits.max_pixels;
    let m = mosaic.clone();
    let png = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, WorkerError> {
        let images = files
            .iter()
            .map(|(k, b)| Image::decode(b, Path::new(k), max_pixels))
            .collect::<Result<Vec<_>, _>>()?;
        let placed: Vec<(usize, usize, &Image)> = m
            .tiles
            .iter()
            .zip(&images)
            .map(|(t, i)| (t.x as usize, t.y as usize, i))
            .collect();
        Ok(feather(
            m.full.0 as usize,
            m.full.1 as usize,
            m.overlap as usize,
            &placed,
        )
        .encode_png()?)
    })
    .await
    .map_err(|e| WorkerError::Join(e.to_string()))??;
    let key = format!("{prefix}{}", mosaic.output_name);
    ctx.objects.put(&key, Bytes::from(png)).await?;
    Ok(vec![key])
}

/// Tiles placed at (x, y) in a `width × height` picture, blended with linear
/// ramps over `overlap` px at every edge that meets another tile (edges on
/// the picture's border keep full weight): a weighted mean per pixel.
pub(crate) fn feather(
    width: usize,
    height: usize,
    overlap: usize,
    tiles: &[(usize, usize, &Image)],
) -> Image {
    let n = width * height;
    let mut acc = vec![0f32; 3 * n];
    let mut wsum = vec![0f32; n];
    let ramp = |d: usize| -> f32 {
        if overlap == 0 {
            1.0
        } else {
            ((d as f32 + 0.5) / overlap as f32).min(1.0)
        }
    };
    for &(x0, y0, img) in tiles {
        let (w, h) = (img.width, img.height);
        let m = w * h;
        for y in 0..h.min(height.saturating_sub(y0)) {
            let wy = if y0 > 0 { ramp(y) } else { 1.0 }
                * if y0 + h < height {
                    ramp(h - 1 - y)
                } else {
                    1.0
                };
            for x in 0..w.min(width.saturating_sub(x0)) {
                let wx = if x0 > 0 { ramp(x) } else { 1.0 }
                    * if x0 + w < width { ramp(w - 1 - x) } else { 1.0 };
                let wgt = wx * wy;
                let i = (y0 + y) * width + x0 + x;
                wsum[i] += wgt;
                for c in 0..3 {
                    acc[c * n + i] += wgt * img.data[c * m + y * w + x];
                }
            }
        }
    }
    for i in 0..n {
        let s = wsum[i].max(1e-12);
        for c in 0..3 {
            acc[c * n + i] /= s;
        }
    }
    Image {
        width,
        height,
        data: acc,
    }
}

/// Where a task's outputs go.
struct Out<'a> {
    ctx: &'a Context,
    prefix: &'a str,
}

impl Out<'_> {
    async fn put(
        &self,
        keys: &mut Vec<String>,
        name: String,
        data: Vec<u8>,
    ) -> Result<(), WorkerError> {
        let key = format!("{}{name}", self.prefix);
        self.ctx.objects.put(&key, Bytes::from(data)).await?;
        keys.push(key);
        Ok(())
    }
}

/// The last segment of an output key, checked to be a plain file name.
fn file_name(key: &str) -> Result<String, WorkerError> {
    let name = key.rsplit('/').next().unwrap_or_default();
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(WorkerError::BadTask(format!(
            "cell key {key:?} does not end in a plain file name"
        )))
    }
}

/// A white sheet with the cells on a rows × cols grid, column labels above
/// and row labels to the left.
fn contact_sheet(p: &Sheet, images: &[Image]) -> Image {
    let fit = |i: &Image| {
        let long = i.width.max(i.height).min(CELL_SIDE);
        stylefarm_engine::image::fit_long_side(i.width, i.height, long)
    };
    let (cw, ch) = images
        .iter()
        .map(fit)
        .fold((16, 16), |(w, h), (a, b)| (w.max(a), h.max(b)));
    let label_chars = |ls: &[String]| ls.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let row_label_w = match label_chars(&p.row_labels) {
        0 => 0,
        n => n * font::advance(FONT_SCALE) + PAD,
    };
    let col_label_h = if p.col_labels.iter().any(|l| !l.is_empty()) {
        font::height(FONT_SCALE) + 2 * PAD
    } else {
        0
    };
    let (rows, cols) = (p.rows.max(1) as usize, p.cols.max(1) as usize);
    let width = PAD + row_label_w + cols * (cw + PAD);
    let height = PAD + col_label_h + rows * (ch + PAD);
    let mut sheet = Image {
        width,
        height,
        data: vec![1.0; 3 * width * height],
    };
    let n = width * height;
    let mut ink = |x: usize, y: usize| {
        if x < width && y < height {
            for c in 0..3 {
                sheet.data[c * n + y * width + x] = 0.0;
            }
        }
    };
    // Labels are clipped to their cell so that long ones cannot overlap.
    let max_chars = cw / font::advance(FONT_SCALE);
    for (c, label) in p.col_labels.iter().enumerate().take(cols) {
        let text: String = label.chars().take(max_chars).collect();
        font::draw(
            &text,
            PAD + row_label_w + c * (cw + PAD),
            PAD,
            FONT_SCALE,
            &mut ink,
        );
    }
    for (r, label) in p.row_labels.iter().enumerate().take(rows) {
        let y = PAD + col_label_h + r * (ch + PAD) + ch / 2;
        font::draw(
            label,
            PAD,
            y.saturating_sub(font::height(FONT_SCALE) / 2),
            FONT_SCALE,
            &mut ink,
        );
    }
    for (cell, img) in p.cells.iter().zip(images) {
        let (w, h) = fit(img);
        let small = img.resize(w, h);
        let x0 = PAD + row_label_w + cell.col as usize * (cw + PAD) + (cw - w) / 2;
        let y0 = PAD + col_label_h + cell.row as usize * (ch + PAD) + (ch - h) / 2;
        let m = w * h;
        for y in 0..h {
            for x in 0..w {
                if x0 + x < width && y0 + y < height {
                    for c in 0..3 {
                        sheet.data[c * n + (y0 + y) * width + x0 + x] =
                            small.data[c * m + y * w + x];
                    }
                }
            }
        }
    }
    sheet
}

/// The gallery page: a table, rows contents, columns styles; each cell a
/// thumbnail linking to the full picture, with its settings. Relative links
/// only, so the `gallery/` folder works wherever it is copied.
fn page(p: &Sheet, names: &[&str]) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>stylefarm gallery</title>\n<style>\nbody{font-family:sans-serif;margin:1em}\ntable{border-collapse:collapse}\ntd,th{padding:6px;vertical-align:top;text-align:center}\nimg{display:block;margin:auto}\n.settings{font-size:smaller;color:#555;max-width:200px}\n</style>\n</head>\n<body>\n<h1>stylefarm gallery</h1>\n<table>\n<tr><th></th>",
    );
    for label in &p.col_labels {
        let _ = write!(h, "<th>{}</th>", escape(label));
    }
    h.push_str("</tr>\n");
    for r in 0..p.rows {
        let label = p.row_labels.get(r as usize).map_or("", String::as_str);
        let _ = write!(h, "<tr><th>{}</th>", escape(label));
        for c in 0..p.cols {
            let found = p
                .cells
                .iter()
                .zip(names)
                .find(|(cell, _)| cell.row == r && cell.col == c);
            match found {
                Some((cell, name)) => {
                    let _ = write!(
                        h,
                        "<td><a href=\"images/{name}\"><img src=\"thumbs/{name}\" alt=\"{alt}\"></a><div class=\"settings\">{caption}</div></td>",
                        alt = escape(&format!(
                            "{} × {}",
                            label,
                            p.col_labels.get(c as usize).map_or("", String::as_str)
                        )),
                        caption = escape(&cell.caption)
                    );
                }
                None => h.push_str("<td></td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use stylefarm_spec::task::SheetCell;

    use super::*;

    #[test]
    fn feathering_equal_tiles_gives_the_same_picture() {
        let flat = |v: f32, w: usize, h: usize| Image {
            width: w,
            height: h,
            data: vec![v; 3 * w * h],
        };
        let a = flat(0.25, 32, 24);
        let out = feather(56, 24, 8, &[(0, 0, &a), (24, 0, &a)]);
        assert!(out.data.iter().all(|v| (v - 0.25).abs() < 1e-6));
        // Different tiles: a smooth ramp across the overlap, the ends untouched.
        let b = flat(0.75, 32, 24);
        let out = feather(56, 24, 8, &[(0, 0, &a), (24, 0, &b)]);
        assert!((out.data[0] - 0.25).abs() < 1e-6 && (out.data[55] - 0.75).abs() < 1e-6);
        let row: Vec<f32> = out.data[24..32].to_vec();
        assert!(row.windows(2).all(|p| p[1] >= p[0]), "{row:?}");
    }

    #[test]
    fn page_links_every_cell_and_escapes_labels() {
        let p = Sheet {
            rows: 1,
            cols: 2,
            row_labels: vec!["<b>".into()],
            col_labels: vec!["a".into(), "b".into()],
            cells: vec![
                SheetCell {
                    key: "jobs/j/t/c0-s0.png".into(),
                    row: 0,
                    col: 0,
                    caption: "x".into(),
                },
                SheetCell {
                    key: "jobs/j/u/c0-s1.png".into(),
                    row: 0,
                    col: 1,
                    caption: "y".into(),
                },
            ],
        };
        let html = page(&p, &["c0-s0.png", "c0-s1.png"]);
        assert!(html.contains("href=\"images/c0-s1.png\""));
        assert!(html.contains("src=\"thumbs/c0-s0.png\""));
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
        assert!(file_name("jobs/j/t/..").is_err() && file_name("jobs/j/t/").is_err());
        let img = Image {
            width: 20,
            height: 10,
            data: vec![0.5; 600],
        };
        let sheet = contact_sheet(&p, &[img.clone(), img]);
        assert!(sheet.width > 40 && sheet.height > 10);
    }
}
