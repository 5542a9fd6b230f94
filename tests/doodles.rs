//! Semantic style transfer and neural doodles end to end (docs/doodles.md):
//! masked jobs and doodles on a farm of real processes (one coordinator with
//! its embedded S3 server, two workers), a doodle split into tiles whose
//! masks are cropped like the picture, the example job file, and bad masks
//! refused by the CLI before anything is uploaded.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use stylefarm_engine::Image;

const RED: [f32; 3] = [1.0, 0.0, 0.0];
const BLUE: [f32; 3] = [0.0, 0.0, 1.0];
const GREEN: [f32; 3] = [0.0, 1.0, 0.0];

/// A `w × h` region map saved as PNG: each pixel painted `colour(x, y)`.
fn mask(path: &Path, w: usize, h: usize, colour: impl Fn(usize, usize) -> [f32; 3]) -> PathBuf {
    let n = w * h;
    let mut data = vec![0f32; 3 * n];
    for y in 0..h {
        for x in 0..w {
            let c = colour(x, y);
            for k in 0..3 {
                data[k * n + y * w + x] = c[k];
            }
        }
    }
    Image {
        width: w,
        height: h,
        data,
    }
    .save(path)
    .unwrap();
    path.to_path_buf()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The repository's example files.
fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The one picture a job delivered into `dir`.
fn picture_in(dir: &Path) -> Image {
    let pngs = files_ending(dir, ".png");
    assert_eq!(pngs.len(), 1, "{pngs:?}");
    Image::load(&pngs[0], u64::MAX).unwrap()
}

#[test]
fn masked_and_doodle_jobs_run_on_a_farm_and_a_large_doodle_is_tiled() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    // Workers that render at most 1500 px in one piece: a 64 px doodle is split.
    let (url, _procs) = small_farm(dir.path(), 1500);

    // Semantic: the photo's left half takes the style's top, its right half
    // the style's bottom.
    let content_mask = mask(&dir.path().join("cm.png"), 32, 24, |x, _| {
        if x < 16 { RED } else { BLUE }
    });
    let style_mask = mask(&dir.path().join("sm.png"), 40, 40, |_, y| {
        if y < 20 { RED } else { BLUE }
    });
    let out = dir.path().join("semantic");
    let job = run_job(
        &url,
        &[
            s(&imgs[0]),
            "--style",
            s(&imgs[1]),
            "--content-mask",
            s(&content_mask),
            "--style-mask",
            s(&style_mask),
            "--size",
            "32",
            "--iterations",
            "4",
            "--init",
            "content",
        ],
        &out,
    );
    let spec = job.spec.as_ref().unwrap();
    assert!(spec.content_mask_key.starts_with("inputs/"), "{spec:?}");
    assert!(spec.styles[0].mask_key.starts_with("inputs/"), "{spec:?}");
    assert_eq!(
        (spec.content_mask_width, spec.content_mask_height),
        (32, 24)
    );
    let img = picture_in(&out);
    let content = Image::load(&imgs[0], u64::MAX).unwrap();
    assert_eq!(img.width.max(img.height), 32);
    assert_eq!(
        img.width * content.height.max(content.width),
        content.width * 32
    );

    // The same at 64 px is more than the workers take: highres tiles, each
    // cropping the content mask like the photo.
    let out = dir.path().join("highres");
    let job = run_job(
        &url,
        &[
            s(&imgs[0]),
            "--style",
            s(&imgs[1]),
            "--content-mask",
            s(&content_mask),
            "--style-mask",
            s(&style_mask),
            "--size",
            "64",
            "--iterations",
            "3",
            "--init",
            "content",
        ],
        &out,
    );
    let spec = job.spec.as_ref().unwrap();
    assert_eq!((spec.kind.as_str(), spec.tile), ("highres", 32), "{spec:?}");
    assert_eq!(kinds_of(&job, "targets"), 1, "{:?}", job.tasks);
    assert!(kinds_of(&job, "stylize") > 2, "{:?}", job.tasks);
    assert_eq!(picture_in(&out).width.max(picture_in(&out).height), 64);

    // A doodle: no content; the output takes the doodle's aspect ratio
    // (128×80 at 32 px: 32×20) and fits the workers in one piece.
    let doodle = examples().join("doodle/doodle.png");
    let painting = examples().join("doodle/painting.jpg");
    let regions = examples().join("doodle/painting_regions.png");
    let doodle_args = |size: &'static str| {
        vec![
            "--content-mask".to_string(),
            s(&doodle).into(),
            "--style".into(),
            s(&painting).into(),
            "--style-mask".into(),
            s(&regions).into(),
            "--size".into(),
            size.into(),
            "--iterations".into(),
            "3".into(),
        ]
    };
    let args = doodle_args("32");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = dir.path().join("doodle");
    let job = run_job(&url, &args, &out);
    assert_eq!(kinds_of(&job, "assemble"), 0, "{:?}", job.tasks);
    let img = picture_in(&out);
    assert_eq!((img.width, img.height), (32, 20));
    assert!(
        out.join("doodle__painting.png").is_file(),
        "named after the doodle"
    );

    // At 64 px (64×40 = 2560 px) the doodle is more than the workers take:
    // a tiled texture whose tiles crop the doodle, sharing guided targets
    // computed once (one targets task: the style with its mask).
    let args = doodle_args("64");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = dir.path().join("tiled");
    let job = run_job(&url, &args, &out);
    let spec = job.spec.as_ref().unwrap();
    assert_eq!((spec.kind.as_str(), spec.tile), ("texture", 32), "{spec:?}");
    assert_eq!(kinds_of(&job, "targets"), 1, "{:?}", job.tasks);
    assert_eq!(kinds_of(&job, "assemble"), 1, "{:?}", job.tasks);
    assert!(kinds_of(&job, "stylize") > 2, "{:?}", job.tasks);
    let img = picture_in(&out);
    assert_eq!((img.width, img.height), (64, 40));
}

#[test]
fn the_example_doodle_job_file_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("doodle.png");
    let job = examples().join("jobs/doodle.toml");
    ok(&stylefarm(&[
        "render",
        "--job",
        s(&job),
        "--size",
        "40",
        "--iterations",
        "2",
        "--workers",
        "2",
        "-q",
        "-o",
        s(&out),
        "--data-dir",
        s(&dir.path().join("data")),
    ]));
    let img = Image::load(&out, u64::MAX).unwrap();
    assert_eq!((img.width, img.height), (40, 25));
}

/// `stylefarm render` of `args` that must fail before the farm starts:
/// returns its error output; nothing may have been stored.
fn refused(dir: &Path, args: &[&str]) -> String {
    let data = dir.join("data");
    let mut all = vec!["render", "-q", "-o", "/dev/null", "--data-dir", s(&data)];
    all.extend(args);
    let out: Output = stylefarm(&all);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        !data.join("objects").exists(),
        "{args:?}: something was stored before the masks were checked"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_masks_are_refused_before_upload_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let halves = |path: &str| {
        mask(&dir.path().join(path), 24, 24, |x, _| {
            if x < 12 { RED } else { BLUE }
        })
    };
    let content_mask = halves("cm.png");
    let style_mask = halves("sm.png");
    let (c, a, b) = (s(&imgs[0]), s(&imgs[1]), s(&imgs[2]));

    // Unreadable: the path and the decoder's reason.
    let missing = dir.path().join("missing.png");
    let e = refused(
        dir.path(),
        &[
            c,
            "--style",
            a,
            "--content-mask",
            s(&missing),
            "--style-mask",
            s(&style_mask),
        ],
    );
    assert!(
        e.contains("missing.png") && e.contains("cannot read"),
        "{e}"
    );
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"not a picture").unwrap();
    let e = refused(
        dir.path(),
        &[
            c,
            "--style",
            a,
            "--content-mask",
            s(&content_mask),
            "--style-mask",
            s(&garbage),
        ],
    );
    assert!(e.contains("garbage.png"), "{e}");

    // Noise is no region map: no flat 3×3 patch anywhere.
    let mut state = 12345u32;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as f32 / 255.0
    };
    let noise: Vec<[f32; 3]> = (0..24 * 24).map(|_| [next(), next(), next()]).collect();
    let noise = mask(&dir.path().join("noise.png"), 24, 24, |x, y| {
        noise[y * 24 + x]
    });
    let e = refused(
        dir.path(),
        &[
            c,
            "--style",
            a,
            "--content-mask",
            s(&noise),
            "--style-mask",
            s(&style_mask),
        ],
    );
    assert!(e.contains("noise.png") && e.contains("flat colour"), "{e}");

    // No regions in common: the content's green is in no style mask.
    let three = mask(&dir.path().join("three.png"), 30, 24, |x, _| match x {
        0..10 => RED,
        10..20 => GREEN,
        _ => BLUE,
    });
    let e = refused(
        dir.path(),
        &[
            c,
            "--style",
            a,
            "--content-mask",
            s(&three),
            "--style-mask",
            s(&style_mask),
        ],
    );
    assert!(
        e.contains("three.png") && e.contains("#00ff00") && e.contains("in no style mask"),
        "{e}"
    );

    // One mask per style, in order.
    let e = refused(
        dir.path(),
        &[
            c,
            "--style",
            a,
            "--style",
            b,
            "--content-mask",
            s(&content_mask),
            "--style-mask",
            s(&style_mask),
        ],
    );
    assert!(e.contains("1 --style-mask for 2 --style"), "{e}");
    let e = refused(
        dir.path(),
        &[c, "--style", a, "--style-mask", s(&style_mask)],
    );
    assert!(e.contains("without --content-mask"), "{e}");
    // Grids and galleries refuse masks.
    let e = refused(
        dir.path(),
        &[
            "grid",
            c,
            "--style",
            a,
            "--style",
            b,
            "--content-mask",
            s(&content_mask),
            "--style-mask",
            s(&style_mask),
            "--style-mask",
            s(&style_mask),
        ],
    );
    assert!(e.contains("not in a grid"), "{e}");
}
