//! Calibration against other tools' outputs (docs/calibration.md): measures
//! pictures with the meter ([`stylefarm_engine::score`]) and, optionally,
//! renders the same pair with stylefarm and measures that too.
//!
//! ```text
//! cargo run -p stylefarm-engine --example calibrate -- \
//!     --content examples/images/tubingen.jpg --style examples/images/starry_night.jpg \
//!     --size 256 --reference tubingen_starry.png --iterations 500 --out render.png
//! ```
//!
//! The meter always uses the default settings (neural-style's layers and
//! weights) at `--size`; the render uses the defaults changed by
//! `--content-weight --style-weight --tv-weight --content-layers
//! --style-layers --tol --window --seed --iterations`. References are resized
//! to `--size` on their long side before they are measured. One line per
//! measured picture on stdout: `SCORE name=… content_rel=… style_rel=… tv=…
//! loss_…=… layer=relative/loss …`; with `--curve PATH` the render's total
//! loss per iteration goes to a CSV.

use std::io::Write;
use std::path::PathBuf;

use stylefarm_engine::image::DEFAULT_MAX_PIXELS;
use stylefarm_engine::model::default_model_path;
use stylefarm_engine::{
    DType, Hooks, Image, Progress, Score, Settings, Style, Vgg19, parse_device, render, score,
};

fn layers(list: &str, weight: f64) -> Vec<(String, f64)> {
    list.split(',')
        .map(|l| (l.trim().to_string(), weight))
        .collect()
}

fn print_score(name: &str, s: &Score) {
    let layers: Vec<String> = s
        .content_layers
        .iter()
        .chain(&s.style_layers)
        .map(|l| format!("{}={:.4}/{:.3e}", l.layer, l.relative, l.loss))
        .collect();
    println!(
        "SCORE name={name} size={}x{} content_rel={:.4} style_rel={:.4} tv={:.1} loss_content={:.4e} loss_style={:.4e} loss_tv={:.4e} loss_total={:.4e} {}",
        s.width,
        s.height,
        s.content_relative,
        s.style_relative,
        s.tv,
        s.losses.content,
        s.losses.style,
        s.losses.tv,
        s.losses.total,
        layers.join(" ")
    );
}

// Long on purpose: a measuring script (arguments, references, optional render,
// its score) read top to bottom, as docs/calibration.md describes it.
fn main() {
    let mut content: Option<PathBuf> = None;
    let mut styles: Vec<PathBuf> = Vec::new();
    let mut references: Vec<PathBuf> = Vec::new();
    let mut size = 256;
    let mut device = "cpu".to_string();
    let mut out: Option<PathBuf> = None;
    let mut curve: Option<PathBuf> = None;
    let mut render_settings = Settings {
        iterations: 0,
        ..Settings::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        let r = &mut render_settings;
        match k.as_str() {
            "--content" => content = Some(val().into()),
            "--style" => styles.push(val().into()),
            "--reference" => references.push(val().into()),
            "--size" => size = val().parse().expect("--size N"),
            "--device" => device = val(),
            "--out" => out = Some(val().into()),
            "--curve" => curve = Some(val().into()),
            "--iterations" => r.iterations = val().parse().expect("--iterations N"),
            "--seed" => r.seed = val().parse().expect("--seed N"),
            "--content-weight" => r.content_weight = val().parse().expect("--content-weight W"),
            "--style-weight" => r.style_weight = val().parse().expect("--style-weight W"),
            "--tv-weight" => r.tv_weight = val().parse().expect("--tv-weight W"),
            "--content-layers" => r.content_layers = layers(&val(), 1.0),
            "--style-layers" => r.style_layers = layers(&val(), 1.0),
            "--tol" => r.tol_loss_relative = Some(val().parse().expect("--tol R")),
            "--window" => r.tol_window = val().parse().expect("--window K"),
            other => panic!(
                "unknown argument {other}; use --content --style --reference --size --iterations --out --curve \
                 --content-weight --style-weight --tv-weight --content-layers --style-layers --tol --window --seed --device"
            ),
        }
    }
    let load = |p: &PathBuf| Image::load(p, DEFAULT_MAX_PIXELS).unwrap_or_else(|e| panic!("{e}"));
    let content = load(&content.expect("--content PATH"));
    assert!(!styles.is_empty(), "--style PATH (repeat for a blend)");
    let styles: Vec<Style> = styles
        .iter()
        .map(|p| Style {
            image: load(p),
            weight: 1.0,
        })
        .collect();
    let device = parse_device(&device).expect("device");
    let model = Vgg19::load(&default_model_path(), &device, DType::F32)
        .expect("the VGG-19 model (run `stylefarm model fetch`)");
    let meter = Settings {
        size,
        ..Settings::default()
    };

    for r in &references {
        let img = load(r).resize_long_side(size);
        let s = score(&model, &img, Some(&content), &styles, &meter).expect("score");
        print_score(&r.display().to_string(), &s);
    }

    if render_settings.iterations == 0 {
        return;
    }
    render_settings.size = size;
    let mut totals: Vec<f64> = Vec::new();
    let mut stopped = None;
    let mut on_progress = |p: &Progress| {
        totals.push(p.losses.total);
        if p.converged {
            stopped = Some(p.iteration);
        }
        if p.iteration.is_multiple_of(50) || p.iteration == 1 || p.converged {
            eprintln!(
                "  {}/{} content {:.4e} style {:.4e} tv {:.4e} total {:.4e} ({:.0} s)",
                p.iteration,
                p.iterations,
                p.losses.content,
                p.losses.style,
                p.losses.tv,
                p.losses.total,
                p.elapsed_seconds
            );
        }
    };
    let img = render(
        &model,
        Some(&content),
        &styles,
        &render_settings,
        Hooks {
            progress: Some(&mut on_progress),
            ..Hooks::default()
        },
    )
    .expect("render");
    if let Some(p) = &out {
        img.save(p).expect("save");
    }
    if let Some(path) = &curve {
        let mut f = std::fs::File::create(path).expect("curve file");
        writeln!(f, "iteration,total").unwrap();
        for (i, t) in totals.iter().enumerate() {
            writeln!(f, "{},{t}", i + 1).unwrap();
        }
    }
    // Measured as saved (8 bits per channel), like the references.
    let img = Image::from_dynamic(image::DynamicImage::ImageRgb8(img.to_rgb8()));
    let s = score(&model, &img, Some(&content), &styles, &meter).expect("score");
    let name = match stopped {
        Some(i) => format!("stylefarm(stopped@{i})"),
        None => format!("stylefarm({})", render_settings.iterations),
    };
    print_score(&name, &s);
}
