//! Video jobs end to end (docs/video.md): the embedded farm with two
//! workers, a farm of real processes with a worker killed during a segment,
//! and bad videos refused with clear errors. A 64×48 clip of ≤ 12 frames.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use stylefarm_proto::pb;
use stylefarm_video::{ClipOptions, pan_zoom_clip, probe};

/// A pan-and-zoom clip over tubingen, 64×48 at 10 fps, with a tone.
fn clip(dir: &Path, frames: usize) -> PathBuf {
    let out = dir.join("clip.mp4");
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/images");
    pan_zoom_clip(
        &images.join("tubingen.jpg"),
        &out,
        &ClipOptions {
            width: 64,
            height: 48,
            frames,
            fps: 10.0,
            audio: true,
        },
    )
    .expect("making the test clip (is ffmpeg installed?)");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_video_renders_with_its_audio_a_preview_and_its_warping_error() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let video = clip(dir.path(), 10);
    let out = dir.path().join("out").join("styled.mp4");
    let run = stylefarm(&[
        "render",
        "video",
        s(&video),
        "--style",
        s(&imgs[1]),
        "--size",
        "64",
        "--iterations",
        "8",
        "--frame-iterations",
        "4",
        "--keyframe-every",
        "4",
        "--video-format",
        "gif",
        "--workers",
        "2",
        "--data-dir",
        s(&dir.path().join("data")),
        "-o",
        s(&out),
    ]);
    let stdout = ok(&run);
    assert!(stdout.contains("styled.mp4"), "{stdout}");
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(log.contains("warping error "), "{log}");
    assert!(log.contains("frame "), "per-frame progress: {log}");

    let info = probe(&out).unwrap();
    assert_eq!((info.width, info.height, info.frames), (64, 48, 10));
    assert!(info.has_audio, "the source's audio is carried over");
    assert!((info.fps - 10.0).abs() < 1e-6, "{}", info.fps);
    let preview = probe(&dir.path().join("out/styled-preview.mp4")).unwrap();
    assert_eq!(
        (preview.width, preview.height, preview.frames),
        (128, 48, 10)
    );
    let gif = probe(&dir.path().join("out/styled.gif")).unwrap();
    assert_eq!((gif.codec.as_str(), gif.frames), ("gif", 10));
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/styled.warping-error.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["pairs"].as_array().unwrap().len(), 9);
    assert_eq!(report["keyframes"], serde_json::json!([0, 4, 8, 9]));
    let mean = report["warping_error"].as_f64().unwrap();
    assert!(mean > 0.0 && mean < 255.0, "{mean}");
}

#[test]
fn two_workers_share_a_video_and_a_worker_killed_during_a_segment_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let video = clip(dir.path(), 12);
    let coord = coordinator(&dir.path().join("farm"), 0, 0, 6.0);
    let url = coord.url.clone();
    let mut procs = Procs(vec![coord.child, worker(&url, "w0"), worker(&url, "w1")]);
    wait_for(Duration::from_secs(60), "both workers", || {
        (list_workers(&url).iter().filter(|w| w.alive).count() == 2).then_some(())
    });
    let id = ok(&stylefarm(&[
        "submit",
        "video",
        s(&video),
        "--style",
        s(&imgs[2]),
        "--size",
        "64",
        "--iterations",
        "10",
        "--frame-iterations",
        "40",
        "--keyframe-every",
        "4",
        "--coordinator",
        &url,
    ]))
    .trim()
    .to_string();
    // The plan: frames, 3 flows, keyframes, 3 segments (0–4, 4–8, 8–11), encode.
    let job = get_job(&url, &id);
    let kinds: Vec<&str> = job.tasks.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "frames",
            "flow",
            "flow",
            "flow",
            "keyframes",
            "segment",
            "segment",
            "segment",
            "encode"
        ]
    );
    // Kill the worker that runs a segment once it has made progress.
    let (task_id, worker_id) = wait_for(Duration::from_secs(240), "a segment to run", || {
        get_job(&url, &id).tasks.iter().find_map(|t| {
            let p = t.progress.as_ref()?;
            (t.kind == "segment" && t.state() == pb::TaskState::Leased && p.iteration >= 2)
                .then(|| (t.task_id.clone(), t.worker_id.clone()))
        })
    });
    let name = list_workers(&url)
        .into_iter()
        .find(|w| w.worker_id == worker_id)
        .map(|w| w.name)
        .unwrap();
    let at = if name == "w0" { 1 } else { 2 };
    kill(&mut procs.0[at]);
    procs.0.push(worker(&url, "w2"));

    ok(&stylefarm(&["watch", &id, "--coordinator", &url]));
    let job = get_job(&url, &id);
    assert_eq!(job.state(), pb::JobState::Succeeded, "{job:?}");
    let killed = job.tasks.iter().find(|t| t.task_id == task_id).unwrap();
    assert!(killed.attempt >= 2, "attempt {}", killed.attempt);
    let out = dir.path().join("got");
    let got = ok(&stylefarm(&[
        "get",
        &id,
        "-o",
        s(&out),
        "--coordinator",
        &url,
    ]));
    assert!(got.contains("got"), "{got}");
    let mp4 = files_ending(&out, ".mp4");
    let result = mp4
        .iter()
        .find(|p| !p.to_string_lossy().ends_with("-preview.mp4"))
        .unwrap();
    let info = probe(result).unwrap();
    assert_eq!((info.frames, info.has_audio), (12, true));
    assert!(out.join("manifest.json").is_file());
}

#[test]
fn bad_videos_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let good = clip(dir.path(), 6);
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let cases: Vec<(PathBuf, Vec<&str>, &str)> = vec![
        (
            write("notes.mp4", b"shopping list"),
            vec![],
            "is not a video",
        ),
        (
            write("cut.mp4", &bytes[..bytes.len() * 6 / 10]),
            vec![],
            "truncated",
        ),
        (
            write("empty.y4m", b"YUV4MPEG2 W32 H32 F10:1 Ip A1:1 C420jpeg\n"),
            vec![],
            "no frames",
        ),
        (
            write(
                "huge.y4m",
                b"YUV4MPEG2 W20000 H100 F10:1 Ip A1:1 C420jpeg\nFRAME\nabc",
            ),
            vec![],
            "16384 pixels a side",
        ),
        (dir.path().join("missing.mp4"), vec![], "no such file"),
        (
            good.clone(),
            vec!["--keyframe-every", "0"],
            "keyframe_every",
        ),
        (good.clone(), vec!["--fps", "1000"], "fps"),
        (good.clone(), vec!["--start", "60"], "start"),
    ];
    let data = dir.path().join("data");
    let never = dir.path().join("never.mp4");
    for (video, extra, expected) in cases {
        let mut args = vec![
            "render",
            "video",
            s(&video),
            "--style",
            s(&imgs[1]),
            "--size",
            "64",
            "--iterations",
            "2",
            "--data-dir",
            s(&data),
            "-o",
            s(&never),
        ];
        args.extend(extra);
        let out = stylefarm(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{video:?} was accepted");
        assert!(
            err.contains(expected),
            "{video:?}: expected {expected:?} in {err}"
        );
        assert!(!never.exists());
    }
}
