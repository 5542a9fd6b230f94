//! Draws the neural-doodle example files and optionally renders the doodle.
//!
//! ```text
//! cargo run -p stylefarm-engine --example doodle -- assets IMAGES_DIR OUT_DIR
//! cargo run -p stylefarm-engine --example doodle -- render OUT_DIR RESULT.png [SIZE] [ITERATIONS]
//! ```
//!
//! `assets` reads `starry_night.jpg` from IMAGES_DIR (the project's test
//! pictures) and writes to OUT_DIR: `painting.jpg` (the painting, 256 px
//! wide), `painting_regions.png` (its region map: sky, cypress, village and
//! hills, drawn from hand-placed outlines) and `doodle.png` (a new scene in
//! the same colours). `render` paints the doodle in the painting's regions
//! with the default VGG-19 (`stylefarm model fetch`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use stylefarm_engine::model::default_model_path;
use stylefarm_engine::{DType, Device, Hooks, Image, Mask, Masks, Settings, Style, Vgg19};

const SKY: [u8; 3] = [40, 90, 220];
const CYPRESS: [u8; 3] = [30, 120, 40];
const VILLAGE: [u8; 3] = [210, 150, 40];

/// A region map of `w × h` whose label at each pixel centre (in fractions
/// of the width and height, y down) is `label(x, y)`: 0 sky, 1 cypress, 2 village.
fn draw(w: usize, h: usize, label: impl Fn(f64, f64) -> u8) -> Mask {
    let labels = (0..w * h)
        .map(|i| {
            let x = ((i % w) as f64 + 0.5) / w as f64;
            let y = ((i / w) as f64 + 0.5) / h as f64;
            label(x, y)
        })
        .collect();
    Mask::from_labels(w, h, vec![SKY, CYPRESS, VILLAGE], labels).expect("three colours")
}

/// The Starry Night's layout, placed by eye: the cypress flames up on the
/// left from the bottom edge to the top, widening downwards; the hills and
/// the village lie under a horizon at 71 % of the height on the left half,
/// rising to about 57 % at the right edge.
fn painting_regions(w: usize, h: usize) -> Mask {
    draw(w, h, |x, y| {
        let centre = 0.19 + 0.03 * y;
        let half_width = 0.015 + 0.14 * y.powf(1.3) + 0.012 * (y * 40.0).sin();
        let horizon = 0.71 - 0.25 * (x - 0.4).max(0.0) + 0.01 * (x * 23.0).sin();
        if (x - centre).abs() < half_width {
            1
        } else if y > horizon {
            2
        } else {
            0
        }
    })
}

/// A new scene: a low valley rising to the right, two cypresses.
fn doodle(w: usize, h: usize) -> Mask {
    draw(w, h, |x, y| {
        let tree = |cx: f64, top: f64, width: f64| {
            y > top && (x - cx).abs() < width * ((y - top) / (1.0 - top)).powf(0.8)
        };
        if tree(0.78, 0.15, 0.09) || tree(0.62, 0.45, 0.05) {
            1
        } else if y > 0.75 - 0.25 * x * x + 0.02 * (x * 17.0).sin() {
            2
        } else {
            0
        }
    })
}

fn assets(images: &Path, out: &Path) -> stylefarm_engine::Result<()> {
    let painting = Image::load(&images.join("starry_night.jpg"), 1 << 30)?.resize_long_side(256);
    std::fs::create_dir_all(out).map_err(|e| stylefarm_engine::EngineError::Write {
        path: out.to_owned(),
        reason: e.to_string(),
    })?;
    painting.save(&out.join("painting.jpg"))?;
    painting_regions(painting.width, painting.height)
        .to_image()
        .save(&out.join("painting_regions.png"))?;
    doodle(128, 80).to_image().save(&out.join("doodle.png"))?;
    Ok(())
}

fn render(
    dir: &Path,
    result: &Path,
    size: usize,
    iterations: usize,
) -> stylefarm_engine::Result<()> {
    let model = Vgg19::load(&default_model_path(), &Device::Cpu, DType::F32)?;
    let style = Style {
        image: Image::load(&dir.join("painting.jpg"), 1 << 30)?,
        weight: 1.0,
    };
    let masks = Masks {
        content: Mask::load(&dir.join("doodle.png"), 1 << 30)?,
        styles: vec![Mask::load(&dir.join("painting_regions.png"), 1 << 30)?],
    };
    let settings = Settings {
        size,
        iterations,
        ..Settings::default()
    };
    let mut on_progress = |p: &stylefarm_engine::Progress| {
        if p.iteration.is_multiple_of(50) {
            eprintln!(
                "iteration {}: style loss {:.4e}",
                p.iteration, p.losses.style
            );
        }
    };
    let hooks = Hooks {
        progress: Some(&mut on_progress),
        ..Hooks::default()
    };
    let out = stylefarm_engine::render_guided(&model, None, &[style], &masks, &settings, hooks)?;
    out.save(result)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(PathBuf::from);
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let done = match (args.first().map(String::as_str), arg(1), arg(2)) {
        (Some("assets"), Some(images), Some(out)) => assets(&images, &out),
        (Some("render"), Some(dir), Some(result)) => {
            render(&dir, &result, number(3, 256), number(4, 300))
        }
        _ => {
            eprintln!(
                "usage: doodle assets IMAGES_DIR OUT_DIR | doodle render OUT_DIR RESULT.png [SIZE] [ITERATIONS]"
            );
            return ExitCode::from(2);
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
