//! Highres across workers against the engine's exact tiling on one machine:
//! the same picture, seed, scales and iterations, rendered both ways on the
//! embedded farm. Prints the seam ratio of each along the highres tile
//! borders (mean gradient across the borders ÷ elsewhere; the exact render is
//! the baseline a seamless picture has on those lines), the mean difference
//! between the two, and the seconds each took.
//!
//! ```text
//! cargo bench -p stylefarm --bench highres_quality -- --size 384 --tile 192 --overlap 48 --iterations 30
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use stylefarm_engine::Image;
use stylefarm_spec::geometry::{fit_long_side, tiles};
use stylefarm_spec::{FarmTiles, JobKind, JobSpec};
use stylefarm_worker::quality::{mean_abs_diff, seam_ratio};

const BIN: &str = env!("CARGO_BIN_EXE_stylefarm");

struct Args {
    size: u32,
    tile: u32,
    overlap: u32,
    iterations: u32,
    workers: u32,
    content: PathBuf,
    style: PathBuf,
}

fn parse_args() -> Args {
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/images");
    let mut a = Args {
        size: 384,
        tile: 192,
        overlap: 48,
        iterations: 30,
        workers: 2,
        content: images.join("tubingen.jpg"),
        style: images.join("starry_night.jpg"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--size" => a.size = val().parse().expect("--size N"),
            "--tile" => a.tile = val().parse().expect("--tile N"),
            "--overlap" => a.overlap = val().parse().expect("--overlap N"),
            "--iterations" => a.iterations = val().parse().expect("--iterations N"),
            "--workers" => a.workers = val().parse().expect("--workers N"),
            "--content" => a.content = PathBuf::from(val()),
            "--style" => a.style = PathBuf::from(val()),
            "--bench" => {}
            other => panic!(
                "unknown argument {other}; use --size --tile --overlap --iterations --workers --content --style"
            ),
        }
    }
    a
}

/// Runs `stylefarm render …` and returns the seconds it took.
fn render(args: &[String], data_dir: &Path) -> f64 {
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .args(["-q", "--data-dir", data_dir.to_str().unwrap()])
        .output()
        .expect("run stylefarm");
    assert!(
        out.status.success(),
        "stylefarm {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64()
}

fn main() {
    let a = parse_args();
    let dir = std::env::temp_dir().join(format!("stylefarm-hrq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let content = Image::load(&a.content, u64::MAX).expect("content image");
    let mut spec = JobSpec::new(JobKind::Highres);
    spec.settings.size = a.size;
    spec.tiles = Some(FarmTiles {
        tile: a.tile,
        overlap: a.overlap,
    });
    let sides = spec.highres_sides();
    let scales = sides
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let common = |out: &Path| -> Vec<String> {
        [
            a.content.to_str().unwrap(),
            "--style",
            a.style.to_str().unwrap(),
            "--size",
            &a.size.to_string(),
            "--iterations",
            &a.iterations.to_string(),
            "--init",
            "content",
            "--seed",
            "7",
            "-o",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let hr_out = dir.join("highres.png");
    let mut hr = vec!["render".to_string(), "highres".into()];
    hr.extend(common(&hr_out));
    hr.extend(
        [
            "--tile",
            &a.tile.to_string(),
            "--overlap",
            &a.overlap.to_string(),
            "--workers",
            &a.workers.to_string(),
        ]
        .map(String::from),
    );
    eprintln!(
        "highres: scales {scales}, tiles of {} px, overlap {}, {} workers",
        a.tile, a.overlap, a.workers
    );
    let hr_s = render(&hr, &dir.join("farm-highres"));

    let exact_out = dir.join("exact.png");
    let mut exact = vec!["render".to_string()];
    exact.extend(common(&exact_out));
    exact.extend(["--scales", &scales, "--tile", &a.tile.to_string()].map(String::from));
    eprintln!(
        "exact: scales {scales}, engine tiles of {} px, 1 worker",
        a.tile
    );
    let exact_s = render(&exact, &dir.join("farm-exact"));

    let hr_img = Image::load(&hr_out, u64::MAX).unwrap();
    let exact_img = Image::load(&exact_out, u64::MAX).unwrap();
    let (w, h) = fit_long_side(content.width as u32, content.height as u32, a.size);
    assert_eq!((hr_img.width, hr_img.height), (w as usize, h as usize));
    // Tile borders at the finest scale: every start and end inside the picture.
    let placed = tiles(w, h, a.tile, a.overlap);
    let borders = |edges: &mut dyn Iterator<Item = u32>, len: u32| {
        let mut v: Vec<usize> = edges
            .filter(|&e| e > 0 && e < len)
            .map(|e| e as usize)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let xs = borders(&mut placed.iter().flat_map(|t| [t.0, t.0 + t.2]), w);
    let ys = borders(&mut placed.iter().flat_map(|t| [t.1, t.1 + t.3]), h);
    let diff = mean_abs_diff(&hr_img, &exact_img).unwrap();
    let hr_seam = seam_ratio(&hr_img, &xs, &ys);
    let exact_seam = seam_ratio(&exact_img, &xs, &ys);
    println!(
        "RESULT size={w}x{h} tile={} overlap={} tiles={} iterations={} seam_ratio_highres={hr_seam:.3} seam_ratio_exact={exact_seam:.3} highres_over_exact={:.3} mean_abs_diff={:.4} ({:.1}/255) highres_s={hr_s:.1} exact_s={exact_s:.1}",
        a.tile,
        a.overlap,
        placed.len(),
        a.iterations,
        hr_seam / exact_seam,
        diff,
        diff * 255.0,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
