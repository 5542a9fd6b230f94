//! A large multi-scale render in bounded memory (exact tiling), timed.
//!
//! ```text
//! cargo bench -p stylefarm-engine --bench highres -- --content BIG.jpg --size 4096 --iterations 2 --max-memory 3GiB
//! ```
//!
//! Renders `--content` (a large photo, e.g. a 4096 px one: the repository
//! ships no picture that big) in the style of examples/images/starry_night.jpg
//! (or `--style`) with automatic scales (√2 steps from ~128 px)
//! and prints, per scale, the size, the tiles per evaluation, seconds per
//! iteration and seconds per iteration per megapixel; then the peak RSS of the
//! process, which must stay under the `--max-memory` budget plus the decoded
//! input pictures.

use std::path::PathBuf;
use std::time::Instant;

use stylefarm_engine::model::default_model_path;
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{
    DType, Hooks, Image, Progress, Scales, Settings, Style, Vgg19, parse_device, render,
};

fn parse_size(s: &str) -> u64 {
    let s = s.trim();
    let (num, mult) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .iter()
        .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
        .unwrap_or((s, 1));
    (num.trim().parse::<f64>().expect("--max-memory like 3GiB") * mult as f64) as u64
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

// Long on purpose: one benchmark (arguments, render, per-scale table, peak RSS)
// read top to bottom.
fn main() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/images");
    let mut content: Option<PathBuf> = None;
    let mut style = examples.join("starry_night.jpg");
    let mut size = 4096;
    let mut iterations = 2;
    let mut max_memory = 3u64 << 30;
    let mut device = "cpu".to_string();
    let mut out: Option<PathBuf> = None;
    let mut scales = Scales::Auto;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--content" => content = Some(val().into()),
            "--style" => style = val().into(),
            "--size" => size = val().parse().expect("--size N"),
            "--iterations" => iterations = val().parse().expect("--iterations N"),
            "--max-memory" => max_memory = parse_size(&val()),
            "--device" => device = val(),
            "--out" => out = Some(val().into()),
            "--scales" => {
                scales = Scales::Explicit(
                    val()
                        .split(',')
                        .map(|v| v.trim().parse().expect("--scales 1024,2048,4096"))
                        .collect(),
                )
            }
            "--bench" => {}
            other => panic!(
                "unknown argument {other}; use --content --style --size --scales --iterations --max-memory --device --out"
            ),
        }
    }
    let device = parse_device(&device).expect("device");
    let model = Vgg19::load(&default_model_path(), &device, DType::F32)
        .expect("the VGG-19 model (run `stylefarm model fetch`)");
    let content = content.unwrap_or_else(|| {
        panic!(
            "give the content photo: --content PATH (a large one, e.g. 4096 px on the long side)"
        )
    });
    let content = Image::load(&content, 1 << 30).expect("content image");
    let style = Image::load(&style, 1 << 30).expect("style image");
    let settings = Settings {
        size,
        iterations,
        scales,
        // L-BFGS history would be capped at this size anyway; Adam keeps 2 vectors.
        optimizer: Optimizer::Adam {
            learning_rate: 10.0,
        },
        max_memory: Some(max_memory),
        ..Settings::default()
    };
    eprintln!(
        "highres: {}×{} content, size {size}, {iterations} iterations per scale, budget {} MiB",
        content.width,
        content.height,
        max_memory >> 20
    );
    let start = Instant::now();
    // (width, height, tiles, seconds of the scale incl. setup, seconds per iteration)
    let mut rows: Vec<(usize, usize, usize, f64, f64)> = Vec::new();
    let mut scale_start = 0.0;
    let mut on_progress = |p: &Progress| {
        if rows.len() <= p.scale {
            scale_start = rows.last().map_or(0.0, |r| r.3);
            rows.push((p.width, p.height, p.tiles, 0.0, 0.0));
        }
        if let Some(r) = rows.last_mut() {
            r.3 = p.elapsed_seconds;
            r.4 += p.iteration_seconds / p.iterations as f64;
        }
        eprintln!(
            "  scale {}/{} {}×{} tiles {} iteration {}/{}: {:.1} s (scale so far {:.1} s), loss {:.4e}",
            p.scale + 1,
            p.scales,
            p.width,
            p.height,
            p.tiles,
            p.iteration,
            p.iterations,
            p.iteration_seconds,
            p.elapsed_seconds - scale_start,
            p.losses.total
        );
    };
    let img = render(
        &model,
        Some(&content),
        &[Style {
            image: style,
            weight: 1.0,
        }],
        &settings,
        Hooks {
            progress: Some(&mut on_progress),
            ..Hooks::default()
        },
    )
    .expect("render");
    let total = start.elapsed().as_secs_f64();
    println!("| scale | tiles | s/iteration | s/iteration/Mpx | s for the scale incl. targets |");
    println!("|---|---|---|---|---|");
    let mut prev_end = 0.0;
    for (w, h, tiles, end, per_iter) in &rows {
        let mpx = (w * h) as f64 / 1e6;
        println!(
            "| {w}×{h} | {tiles} | {per_iter:.2} | {:.2} | {:.1} |",
            per_iter / mpx,
            end - prev_end
        );
        prev_end = *end;
    }
    println!(
        "RESULT highres size={size} out={}x{} iterations_per_scale={iterations} total_s={total:.1} peak_rss_mb={:.0} budget_mb={}",
        img.width,
        img.height,
        peak_rss_mb(),
        max_memory >> 20
    );
    if let Some(p) = out {
        img.save(&p).expect("save");
    }
}
