//! One style-transfer iteration (forward to relu5_1, losses, hand-written
//! backward, optimiser step) at the engine's default objective, timed.
//!
//! A plain `main` (no harness), driven by `scripts/bench-vs-pytorch`:
//!
//! ```text
//! cargo bench -p stylefarm-engine --bench iteration -- --size 256 --opt lbfgs --iters 12 --warmup 2
//! ```
//!
//! Prints human-readable progress on stderr and one machine-readable line on stdout:
//! `RESULT side=engine size=256 h=192 w=256 opt=lbfgs precision=fp32 iters=12 median_s=… min_s=… peak_rss_mb=… loss=…`.
//! `--precision fp32|tf32|bf16` (default: the device's) sets the network's
//! number format (`Vgg19::with_precision`).
//! With `--phases`, also the median seconds of forward / losses / backward / step.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use stylefarm_engine::loss;
use stylefarm_engine::model::{Layer, Pooling, Precision, Vgg19, default_model_path};
use stylefarm_engine::objective::{Objective, Terms};
use stylefarm_engine::optim::{Adam, Lbfgs};
use stylefarm_engine::targets::StyleTargets;

struct Args {
    size: usize,
    opt: String,
    iters: usize,
    warmup: usize,
    model: PathBuf,
    phases: bool,
    device: String,
    /// `None`: the device's default.
    precision: Option<Precision>,
}

fn parse_args() -> Args {
    let mut a = Args {
        size: 256,
        opt: "lbfgs".into(),
        iters: 10,
        warmup: 2,
        model: default_model_path(),
        phases: false,
        device: "cpu".into(),
        precision: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--size" => a.size = val().parse().expect("--size N"),
            "--opt" => a.opt = val(),
            "--iters" => a.iters = val().parse().expect("--iters N"),
            "--warmup" => a.warmup = val().parse().expect("--warmup N"),
            "--model" => a.model = PathBuf::from(val()),
            "--phases" => a.phases = true,
            "--device" => a.device = val(),
            "--precision" => a.precision = Some(val().parse().expect("--precision fp32|tf32|bf16")),
            "--bench" => {} // passed by `cargo bench`
            other => panic!(
                "unknown argument {other}; use --size --opt lbfgs|adam --iters --warmup --model --phases --device --precision"
            ),
        }
    }
    a
}

/// A deterministic, image-like input `(3, h, w)` in the network's (mean-subtracted, 0..255) space:
/// smooth gradients and stripes, the same formula as bench/reference.py.
fn synthetic(h: usize, w: usize, seed: f64) -> Tensor {
    let mut v = Vec::with_capacity(3 * h * w);
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let (fy, fx) = (y as f64 / h as f64, x as f64 / w as f64);
                let t = 127.5
                    + 60.0 * (seed * 7.0 * fx + c as f64).sin() * (seed * 5.0 * fy).cos()
                    + 40.0 * ((fx + fy) * 31.0 * seed + c as f64 * 2.0).sin();
                v.push((t - [103.939, 116.779, 123.68][c]) as f32);
            }
        }
    }
    Tensor::from_vec(v, (3, h, w), &Device::Cpu).unwrap()
}

/// `(3, h, w)` of a fixed pseudo-random N(0, 0.001²)-ish init (uniform, same variance).
fn init(h: usize, w: usize) -> Tensor {
    let mut s: u64 = 12345;
    let v: Vec<f32> = (0..3 * h * w)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) as f32 * 0.001 * 3f32.sqrt()
        })
        .collect();
    Tensor::from_vec(v, (3, h, w), &Device::Cpu).unwrap()
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    }
}

enum Opt {
    Lbfgs(Lbfgs),
    Adam(Adam),
}

// Long on purpose: argument parsing, warm-up and timed loop of one benchmark,
// kept in the order the printed numbers are produced.
fn main() {
    let a = parse_args();
    let (h, w) = (a.size * 3 / 4, a.size);
    let dev = stylefarm_engine::parse_device(&a.device).expect("--device cpu|cuda:N");
    let model =
        Vgg19::load(&a.model, &dev, DType::F32).expect("load the model (stylefarm model fetch)");
    let content_layers = vec![(Layer::parse("relu4_2").unwrap(), 5.0)];
    let style_layers: Vec<(Layer, f64)> = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
        .iter()
        .map(|n| (Layer::parse(n).unwrap(), 100.0))
        .collect();
    let layers: Vec<Layer> = style_layers.iter().map(|(l, _)| *l).collect();
    let content = synthetic(h, w, 1.0).to_device(&dev).unwrap();
    let style = synthetic(h, w, 2.3).to_device(&dev).unwrap();
    let acts = model.forward(&style, &layers, Pooling::Max).unwrap();
    let targets = StyleTargets::plain(
        layers
            .iter()
            .map(|&l| (l, loss::gram(acts.get(l)).unwrap()))
            .collect(),
    );
    drop(acts);
    // Style targets from the model as loaded (fp32), the loop at the
    // precision asked for: as a render does.
    let precision = a
        .precision
        .unwrap_or_else(|| stylefarm_engine::default_precision(&dev));
    let model = model.with_precision(precision).expect("--precision");
    let obj = Objective::new(
        &model,
        Terms {
            pooling: Pooling::Max,
            content_image: Some(&content),
            content_layers: &content_layers,
            style: &targets,
            style_layers: &style_layers,
            tv_weight: 1e-3,
            normalize_gradients: false,
            tileable: false,
            tile: None,
        },
        (w, h),
    )
    .unwrap();
    let mut opt = match a.opt.as_str() {
        "lbfgs" => Opt::Lbfgs(Lbfgs::new(100, 1.0)),
        "adam" => Opt::Adam(Adam::new(10.0)),
        o => panic!("--opt lbfgs|adam, not {o}"),
    };
    let mut all_layers = vec![content_layers[0].0];
    all_layers.extend(&layers);
    let content_target = model
        .forward(&content, &all_layers[..1], Pooling::Max)
        .unwrap()
        .get(all_layers[0])
        .clone();
    let mut x = init(h, w).to_device(&dev).unwrap();
    let mut times = Vec::new();
    let mut phases: Vec<[f64; 4]> = Vec::new();
    let mut last_loss = f64::NAN;
    for i in 0..a.warmup + a.iters {
        let t0 = Instant::now();
        let grad = if a.phases {
            // The same work as Objective::evaluate, timed per phase.
            let acts = model.forward(&x, &all_layers, Pooling::Max).unwrap();
            let t1 = Instant::now();
            let mut g = vec![(
                all_layers[0],
                loss::content(acts.get(all_layers[0]), &content_target, 5.0)
                    .unwrap()
                    .1,
            )];
            for (l, a) in &targets.grams {
                g.push((*l, loss::style(acts.get(*l), a, 100.0).unwrap().1));
            }
            let t2 = Instant::now();
            let mut grad = model.backward(&acts, &g).unwrap();
            let (_, tvg) = loss::total_variation(&x, 1e-3).unwrap();
            grad = (grad + tvg).unwrap();
            let t3 = Instant::now();
            phases.push([
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t3 - t2).as_secs_f64(),
                0.0,
            ]);
            grad
        } else {
            let (l, g) = obj.evaluate(&x).unwrap();
            last_loss = l.total;
            g
        };
        let ts = Instant::now();
        x = match &mut opt {
            Opt::Lbfgs(o) => o.step(&x, &grad).unwrap(),
            Opt::Adam(o) => o.step(&x, &grad).unwrap(),
        };
        dev.synchronize().unwrap();
        let dt = t0.elapsed().as_secs_f64();
        if let Some(p) = phases.last_mut() {
            p[3] = ts.elapsed().as_secs_f64();
        }
        eprintln!(
            "engine {}px {} iter {i}: {dt:.3} s{}",
            a.size,
            a.opt,
            if i < a.warmup { " (warm-up)" } else { "" }
        );
        if i >= a.warmup {
            times.push(dt);
        } else {
            phases.clear();
        }
    }
    if a.phases {
        let col = |k: usize| median(&phases.iter().map(|p| p[k]).collect::<Vec<_>>());
        println!(
            "PHASES side=engine size={} forward_s={:.4} losses_s={:.4} backward_s={:.4} step_s={:.4}",
            a.size,
            col(0),
            col(1),
            col(2),
            col(3)
        );
    }
    println!(
        "RESULT side=engine size={} h={h} w={w} opt={} precision={precision} iters={} median_s={:.4} min_s={:.4} peak_rss_mb={:.1} loss={:.6e} threads={}",
        a.size,
        a.opt,
        a.iters,
        median(&times),
        times.iter().cloned().fold(f64::INFINITY, f64::min),
        peak_rss_mb(),
        last_loss,
        rayon::current_num_threads()
    );
}
