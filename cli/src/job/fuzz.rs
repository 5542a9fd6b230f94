//! Fuzzing of job files (issue 16, "Nobody gets in who does not belong").
//!
//! A job file (`--job FILE`) is text a user wrote, or was sent: the CLI
//! reads it with [`resolve`] before anything is read or uploaded. proptest
//! writes 10 000 TOML files of every key of a job file and of its
//! `[render]` table, with values mostly plausible and sometimes hostile
//! (the workspace's shared hostile strings and numbers, every TOML type in
//! the wrong place, unknown and quoted keys, duplicated keys), and files
//! that are no TOML at all: cut short, arbitrary bytes, invalid UTF-8.
//!
//! The properties: resolving never panics and answers at once; a file that
//! is no valid job file is refused with an error that names the file; a
//! job that resolves has every path absolute (relative ones are relative
//! to the file, docs/jobs.md) and passes or fails its pre-upload check
//! with an error that says what is wrong.

use std::path::Path;
use std::time::Instant;

use proptest::prelude::*;
use proptest::sample::select;
use stylefarm_fuzzing::{CASES, FAST, config, hostile_text, wild_f64, wild_u32};
use stylefarm_spec::{GridAxis, JobKind, Optimizer, OriginalColors, Pooling, VideoFormat};

use super::file::JobFile;
use super::{Resolved, resolve};
use crate::args::JobFlags;
use crate::settings::RenderLayer;

/// Every key of a job file (`JobFile`), `render` aside, with how often a
/// generated file has it: the keys that make a job of each kind often, so
/// that every kind resolves now and then.
const FILE_KEYS: &[(&str, f64)] = &[
    ("kind", 0.8),
    ("name", 0.2),
    ("priority", 0.1),
    ("content", 0.6),
    ("contents", 0.3),
    ("styles", 0.85),
    ("steps", 0.2),
    ("axis", 0.1),
    ("overlap", 0.1),
    ("content_mask", 0.05),
    ("style_masks", 0.05),
    ("video", 0.3),
    ("fps", 0.1),
    ("start", 0.1),
    ("duration", 0.1),
    ("keyframe_every", 0.1),
    ("temporal_weight", 0.1),
    ("frame_iterations", 0.1),
    ("video_formats", 0.1),
];

/// Every key of a `[render]` table (`RenderLayer`), with how often.
const RENDER_KEYS: &[(&str, f64)] = &[
    ("size", 0.5),
    ("iterations", 0.2),
    ("tol_loss_relative", 0.05),
    ("tol_window", 0.05),
    ("seed", 0.05),
    ("optimizer", 0.1),
    ("learning_rate", 0.05),
    ("lbfgs_history", 0.05),
    ("content_weight", 0.05),
    ("style_weight", 0.05),
    ("tv_weight", 0.05),
    ("content_layers", 0.05),
    ("style_layers", 0.05),
    ("init", 0.1),
    ("pooling", 0.05),
    ("style_scale", 0.05),
    ("original_colors", 0.05),
    ("scales", 0.05),
    ("multiscale", 0.05),
    ("save_every", 0.05),
    ("animation", 0.02),
    ("texture", 0.3),
    ("normalize_gradients", 0.05),
    ("tileable", 0.05),
    ("tile", 0.15),
    ("max_memory", 0.05),
];

fn string(s: impl Into<String>) -> String {
    toml::Value::String(s.into()).to_string()
}

fn array(items: Vec<String>) -> String {
    format!("[{}]", items.join(", "))
}

/// A name of `all`, as a TOML string.
fn name_of<T: Copy + std::fmt::Debug + 'static>(
    all: &'static [T],
    as_str: fn(T) -> &'static str,
) -> BoxedStrategy<String> {
    select(all).prop_map(move |v| string(as_str(v))).boxed()
}

/// A picture's path as a user writes it: mostly one [`inputs_dir`] has (a
/// file or the folder `pics`), sometimes in another folder, absolute, or
/// climbing out of the file's folder.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => words(&["c.png", "pics/s.jpg", "clip.mp4", "pics"]),
        1 => words(&["../up.png", "/abs/p.webp", "./here.png", "a b é.png"]),
    ]
}

/// One of `words`.
fn words(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(words).prop_map(str::to_string)
}

/// `PATH` or `PATH:WEIGHT`, as `--style`.
fn style() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => path(),
        2 => (path(), 0.0f64..4.0).prop_map(|(p, w)| format!("{p}:{w}")),
        1 => (path(), wild_f64()).prop_map(|(p, w)| format!("{p}:{w}")),
        1 => hostile_text(),
    ]
}

fn small() -> BoxedStrategy<String> {
    (0u32..40).prop_map(|n| n.to_string()).boxed()
}

fn float(range: std::ops::Range<f64>) -> BoxedStrategy<String> {
    range
        .prop_map(|f| toml::Value::Float(f).to_string())
        .boxed()
}

/// A value a user would plausibly give `key`.
fn plausible(key: &'static str) -> BoxedStrategy<String> {
    let paths = || prop::collection::vec(path().prop_map(string), 0..4).prop_map(array);
    match key {
        "kind" => name_of(JobKind::ALL, JobKind::as_str),
        "axis" => name_of(GridAxis::ALL, GridAxis::as_str),
        "optimizer" => name_of(Optimizer::ALL, Optimizer::as_str),
        "pooling" => name_of(Pooling::ALL, Pooling::as_str),
        "original_colors" => name_of(OriginalColors::ALL, OriginalColors::as_str),
        "video_formats" => {
            prop::collection::vec(name_of(VideoFormat::ALL, VideoFormat::as_str), 0..3)
                .prop_map(array)
                .boxed()
        }
        "name" => "[a-z é_-]{0,12}".prop_map(string).boxed(),
        "priority" => (-5i32..5).prop_map(|n| n.to_string()).boxed(),
        "content" | "content_mask" | "video" | "animation" => path().prop_map(string).boxed(),
        "contents" | "style_masks" => paths().boxed(),
        "styles" => prop::collection::vec(style().prop_map(string), 0..4)
            .prop_map(array)
            .boxed(),
        "size" => (16u32..600).prop_map(|n| n.to_string()).boxed(),
        "tile" => (1u32..20).prop_map(|n| (n * 16).to_string()).boxed(),
        "fps" | "duration" | "style_scale" => float(0.1..30.0),
        "start" | "temporal_weight" | "learning_rate" => float(0.0..10.0),
        "content_weight" | "style_weight" | "tv_weight" | "tol_loss_relative" => float(0.0..1000.0),
        "content_layers" | "style_layers" => {
            words(&["relu4_2", "relu1_1,relu2_1:0.5", "relu9_9", "", "relu4_2:x"])
                .prop_map(string)
                .boxed()
        }
        "init" => words(&["random", "image", "noise", "content", "init.png"])
            .prop_map(string)
            .boxed(),
        "scales" => words(&["64,128", "128", "", "64,x", "0"])
            .prop_map(string)
            .boxed(),
        "texture" => prop_oneof![
            3 => words(&["64x64", "48x32"]),
            1 => words(&["64×32", "0x0", "x", "99999999x1"]),
        ]
        .prop_map(string)
        .boxed(),
        "max_memory" => prop_oneof![
            words(&[
                "1GiB",
                "512MiB",
                "0",
                "-1GiB",
                "1XB",
                "18446744073709551616"
            ])
            .prop_map(string),
            wild_u32().prop_map(|n| n.to_string()),
        ]
        .boxed(),
        "multiscale" | "normalize_gradients" | "tileable" => {
            any::<bool>().prop_map(|b| b.to_string()).boxed()
        }
        _ => small(),
    }
}

/// Any TOML value, and some that are no TOML at all.
fn wild_value() -> BoxedStrategy<String> {
    prop_oneof![
        4 => hostile_text().prop_map(string),
        2 => wild_u32().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        2 => wild_f64().prop_map(|f| toml::Value::Float(f).to_string()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => prop::collection::vec(hostile_text().prop_map(string), 0..3).prop_map(array),
        1 => Just("1979-05-27T07:32:00Z".to_string()),
        1 => Just("{ a = 1, b = [\"x\"] }".to_string()),
        1 => Just("[[1, 2], [\"a\"]]".to_string()),
        1 => words(&["\"open", "= =", "0x", "1e999", "'''", "[", "inf", "-nan", "１"]),
    ]
    .boxed()
}

/// `key = value` lines: each key of `known` with its chance, given its
/// plausible value mostly and a wild one sometimes; in one of four, one or
/// two more lines with an unknown, quoted, hostile or repeated key.
fn entries(known: &'static [(&'static str, f64)]) -> impl Strategy<Value = Vec<String>> {
    let each: Vec<BoxedStrategy<Option<String>>> = known
        .iter()
        .map(|&(key, chance)| {
            prop::option::weighted(chance, prop_oneof![5 => plausible(key), 1 => wild_value()])
                .prop_map(move |v| v.map(|v| format!("{key} = {v}")))
                .boxed()
        })
        .collect();
    let names: Vec<&'static str> = known.iter().map(|&(k, _)| k).collect();
    let odd_key = prop_oneof![
        "[a-z_]{1,12}",
        hostile_text().prop_map(string),
        select(names).prop_map(str::to_string),
    ];
    let extra = prop_oneof![
        3 => Just(Vec::new()),
        1 => prop::collection::vec(
            (odd_key, wild_value()).prop_map(|(k, v)| format!("{k} = {v}")),
            1..=2,
        ),
    ];
    (each, extra).prop_map(|(each, extra)| each.into_iter().flatten().chain(extra).collect())
}

/// A job file's text: top-level keys, then a `[render]` table (sometimes
/// another table, or `render` as a plain value).
fn job_text() -> impl Strategy<Value = String> {
    let table = prop_oneof![
        6 => Just("[render]".to_string()),
        1 => Just("[video]".to_string()),
        1 => Just("[[render]]".to_string()),
        1 => Just("render = 1".to_string()),
    ];
    (entries(FILE_KEYS), table, entries(RENDER_KEYS)).prop_map(|(top, table, render)| {
        format!("{}\n{table}\n{}\n", top.join("\n"), render.join("\n"))
    })
}

/// A job file: mostly TOML, sometimes cut short (anywhere, even inside a
/// UTF-8 character), sometimes arbitrary bytes.
fn job_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => job_text().prop_map(String::into_bytes),
        1 => (job_text(), any::<prop::sample::Index>()).prop_map(|(t, at)| {
            let mut b = t.into_bytes();
            b.truncate(at.index(b.len() + 1));
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

/// Resolves the job file `bytes` (written to `file`) as `stylefarm render
/// --job FILE` does, with no flags and no config, and checks the answer.
fn check_job_file(file: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    std::fs::write(file, bytes).unwrap();
    let flags = JobFlags {
        job: Some(file.to_path_buf()),
        ..Default::default()
    };
    let none = RenderLayer::default();
    let started = Instant::now();
    let verdict = resolve(&flags, &none, &none);
    let took = started.elapsed();
    prop_assert!(took < FAST, "resolving took {took:?}");
    // Whether the file itself is a valid job file, its styles included.
    let read = JobFile::read(Some(file));
    match verdict {
        Err(e) => {
            let message = format!("{e:#}");
            prop_assert!(!message.trim().is_empty());
            if let Err(read) = read {
                for message in [message, format!("{read:#}")] {
                    prop_assert!(
                        message.contains(&file.display().to_string()),
                        "an invalid job file is refused without naming it: {message}"
                    );
                }
            }
        }
        Ok(Resolved { job, .. }) => {
            prop_assert!(read.is_ok(), "resolved from an invalid job file");
            let paths = job
                .content
                .iter()
                .chain(&job.contents)
                .chain(&job.styles)
                .chain(&job.content_mask)
                .chain(&job.style_masks)
                .chain(&job.video)
                .chain(&job.init_image);
            for p in paths {
                prop_assert!(p.is_absolute(), "{p:?} is not relative to the job file");
            }
            if let Err(e) = job.check() {
                let message = format!("{e:#}");
                prop_assert!(!message.trim().is_empty());
            }
        }
    }
    Ok(())
}

/// A folder with some of the files [`path`] names (a video job's video
/// and a gallery's photos must exist; their bytes are read only when the
/// job is submitted).
fn inputs_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pics")).unwrap();
    for name in ["clip.mp4", "c.png", "pics/s.jpg"] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    dir
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Any job file is refused clearly or resolves to a job whose paths
    /// are relative to the file.
    #[test]
    fn any_job_file_is_refused_clearly_or_resolved(bytes in job_file()) {
        let dir = inputs_dir();
        check_job_file(&dir.path().join("job.toml"), &bytes)?;
    }
}

/// The generator is no walk through refusals only: with a fixed seed, jobs
/// of every kind resolve now and then.
#[test]
fn the_generator_reaches_resolved_jobs_of_every_kind() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let dir = inputs_dir();
    let file = dir.path().join("job.toml");
    let none = RenderLayer::default();
    let mut runner = TestRunner::deterministic();
    let strategy = job_file();
    let mut resolved = std::collections::HashMap::new();
    for _ in 0..3_000 {
        std::fs::write(&file, strategy.new_tree(&mut runner).unwrap().current()).unwrap();
        let flags = JobFlags {
            job: Some(file.clone()),
            ..Default::default()
        };
        if let Ok(r) = resolve(&flags, &none, &none) {
            *resolved.entry(r.job.spec.kind).or_insert(0) += 1;
        }
    }
    for kind in JobKind::ALL {
        assert!(
            resolved.get(kind).copied().unwrap_or(0) >= 3,
            "{kind:?}: resolved {resolved:?} of 3 000"
        );
    }
}

/// Found by `any_job_file_is_refused_clearly_or_resolved`: a style with no
/// path in a job file (`styles = [""]`, `styles = [":0.5"]`) was refused as
/// "--style needs a path", naming neither the file nor the key.
#[test]
fn a_style_without_a_path_names_the_job_file() {
    let dir = inputs_dir();
    let file = dir.path().join("job.toml");
    for styles in ["[\"\"]", "[\":0.5\"]"] {
        std::fs::write(&file, format!("content = \"c.png\"\nstyles = {styles}\n")).unwrap();
        let flags = JobFlags {
            job: Some(file.clone()),
            ..Default::default()
        };
        let none = RenderLayer::default();
        let e = format!("{:#}", resolve(&flags, &none, &none).unwrap_err());
        assert!(
            e.contains(&file.display().to_string()) && e.contains("styles"),
            "{e}"
        );
    }
}
