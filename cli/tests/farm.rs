//! The farm end to end: real coordinator and worker processes, the embedded
//! S3 server, CLI calls, kill -9 of workers and of the coordinator.

mod common;

use std::time::Duration;

use common::*;
use stylefarm_proto::pb;
use stylefarm_proto::pb::farm_client::FarmClient;

const RENDER: [&str; 6] = [
    "--size",
    "48",
    "--iterations",
    "6",
    "--style-weight",
    "1000",
];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn list_workers(url: &str) -> Vec<pb::WorkerInfo> {
    rt().block_on(async {
        let mut c = FarmClient::connect(url.to_string()).await.unwrap();
        c.list_workers(pb::ListWorkersRequest {})
            .await
            .unwrap()
            .into_inner()
            .workers
    })
}

#[test]
fn six_jobs_on_two_workers_equal_local_renders() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let mut coord = coordinator(&dir.path().join("farm"), 0, 0, 10.0);
    let mut workers = [worker(&coord.url, "w0"), worker(&coord.url, "w1")];
    let mut jobs = Vec::new();
    for i in 0..6usize {
        let (content, style) = (&imgs[i % 2], &imgs[2 + (i / 2) % 2]);
        let seed = i.to_string();
        let mut args = vec![
            "submit",
            content.to_str().unwrap(),
            "--style",
            style.to_str().unwrap(),
            "--seed",
            &seed,
        ];
        args.extend(RENDER);
        args.extend(["--coordinator", &coord.url]);
        let id = ok(&stylefarm(&args)).trim().to_string();
        jobs.push((id, content.clone(), style.clone(), seed));
    }
    for (id, content, style, seed) in &jobs {
        ok(&stylefarm(&["watch", id, "--coordinator", &coord.url]));
        let out = dir.path().join(format!("farm-{id}"));
        ok(&stylefarm(&[
            "get",
            id,
            "-o",
            out.to_str().unwrap(),
            "--coordinator",
            &coord.url,
        ]));
        let farm_png = common::files_ending(&out, "result.png");
        assert_eq!(farm_png.len(), 1, "{id}: {farm_png:?}");

        let local = dir.path().join(format!("local-{seed}.png"));
        let mut args = vec![
            "render",
            content.to_str().unwrap(),
            "--style",
            style.to_str().unwrap(),
            "--seed",
            seed,
        ];
        args.extend(RENDER);
        let data = dir.path().join("local-data");
        args.extend([
            "-q",
            "-o",
            local.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ]);
        ok(&stylefarm(&args));
        assert_eq!(
            std::fs::read(&farm_png[0]).unwrap(),
            std::fs::read(&local).unwrap(),
            "job {id} differs from the local render"
        );
    }
    let names: Vec<String> = list_workers(&coord.url)
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert!(
        names.contains(&"w0".to_string()) && names.contains(&"w1".to_string()),
        "{names:?}"
    );
    workers.iter_mut().for_each(kill);
    kill(&mut coord.child);
}

#[test]
fn a_worker_killed_mid_task_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let data = dir.path().join("farm");
    let mut coord = coordinator(&data, 0, 0, 2.0);
    let mut w0 = worker(&coord.url, "w0");
    let args = [
        "submit",
        imgs[0].to_str().unwrap(),
        "--style",
        imgs[2].to_str().unwrap(),
        "--size",
        "64",
        "--iterations",
        "150",
        "--coordinator",
        &coord.url,
    ];
    let id = ok(&stylefarm(&args)).trim().to_string();
    // Wait until w0 holds the task and has made progress, then kill it.
    wait_for(Duration::from_secs(60), "w0 to run the task", || {
        let job = get_job(&coord.url, &id);
        job.tasks
            .iter()
            .any(|t| t.progress.as_ref().is_some_and(|p| p.iteration >= 2))
            .then_some(())
    });
    kill(&mut w0);
    let mut w1 = worker(&coord.url, "w1");
    ok(&stylefarm(&["watch", &id, "--coordinator", &coord.url]));
    let job = get_job(&coord.url, &id);
    assert_eq!(job.state(), pb::JobState::Succeeded);
    assert_eq!(job.tasks.len(), 1);
    assert!(
        job.tasks[0].attempt >= 2,
        "attempt {}",
        job.tasks[0].attempt
    );
    let results: Vec<_> = job
        .output_keys
        .iter()
        .filter(|k| k.ends_with("result.png"))
        .collect();
    assert_eq!(results.len(), 1, "{:?}", job.output_keys);
    let stored = files_ending(&data.join("objects"), "result.png");
    assert_eq!(stored.len(), 1, "{stored:?}");
    kill(&mut w1);
    kill(&mut coord.child);
}

#[test]
fn a_coordinator_killed_mid_job_restarts_and_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let data = dir.path().join("farm");
    let (port, s3_port) = (free_port(), free_port());
    let mut coord = coordinator(&data, port, s3_port, 5.0);
    let mut w = worker(&coord.url, "w0");
    let args = [
        "submit",
        imgs[1].to_str().unwrap(),
        "--style",
        imgs[3].to_str().unwrap(),
        "--size",
        "64",
        "--iterations",
        "60",
        "--coordinator",
        &coord.url,
    ];
    let id = ok(&stylefarm(&args)).trim().to_string();
    wait_for(Duration::from_secs(60), "the task to be leased", || {
        let job = get_job(&coord.url, &id);
        job.tasks
            .iter()
            .any(|t| t.state() == pb::TaskState::Leased)
            .then_some(())
    });
    kill(&mut coord.child);
    let mut coord = coordinator(&data, port, s3_port, 5.0);
    ok(&stylefarm(&["watch", &id, "--coordinator", &coord.url]));
    assert_eq!(get_job(&coord.url, &id).state(), pb::JobState::Succeeded);
    kill(&mut w);
    kill(&mut coord.child);
}

#[test]
fn bad_jobs_and_images_are_clear_errors_and_the_farm_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let mut coord = coordinator(&dir.path().join("farm"), 0, 0, 10.0);
    let mut w = worker(&coord.url, "w0");
    let (content, style) = (imgs[0].to_str().unwrap(), imgs[2].to_str().unwrap());
    let truncated = dir.path().join("truncated.png");
    let bytes = std::fs::read(&imgs[1]).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, png_header(100_000, 100_000)).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![truncated.to_str().unwrap(), "--style", style],
            "cannot decode",
        ),
        (
            vec![huge.to_str().unwrap(), "--style", style],
            "more than the limit",
        ),
        (
            vec![content, "--style", "/nonexistent.png"],
            "/nonexistent.png",
        ),
        (
            vec![content, "--style", style, "--content-weight", "-1"],
            "content_weight",
        ),
        (
            vec![content, "--style", style, "--style-layers", "relu9_1"],
            "relu9_1",
        ),
        (
            vec![content, "--style", style, "--iterations", "0"],
            "iterations",
        ),
        (vec![content], "style"),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["submit"];
        args.extend(extra);
        args.extend(["--coordinator", &coord.url]);
        let out = stylefarm(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(expect),
            "{args:?}: expected '{expect}' in: {err}"
        );
    }
    // The same errors from the embedded farm of `render`, not hidden by its shutdown.
    let data = dir.path().join("render-data");
    for (flag, value, expect) in [
        ("--iterations", "0", "iterations"),
        ("--tile", "20", "tile"),
    ] {
        let args = [
            "render",
            content,
            "--style",
            style,
            flag,
            value,
            "-q",
            "--data-dir",
            data.to_str().unwrap(),
        ];
        let out = stylefarm(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(expect) && !err.contains("cannot reach"),
            "{args:?}: expected '{expect}' in: {err}"
        );
    }
    let id = ok(&stylefarm(&[
        "submit",
        content,
        "--style",
        style,
        "--size",
        "32",
        "--iterations",
        "2",
        "--coordinator",
        &coord.url,
    ]));
    ok(&stylefarm(&[
        "watch",
        id.trim(),
        "--coordinator",
        &coord.url,
    ]));
    kill(&mut w);
    kill(&mut coord.child);
}

fn png_header(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(w.to_be_bytes());
    chunk.extend(h.to_be_bytes());
    chunk.extend([8, 2, 0, 0, 0]);
    v.extend(13u32.to_be_bytes());
    v.extend(&chunk);
    v.extend(crc32(&chunk).to_be_bytes());
    // An empty IDAT, as a forged file would have: decoders read the header up to it.
    v.extend(0u32.to_be_bytes());
    v.extend(b"IDAT");
    v.extend(crc32(b"IDAT").to_be_bytes());
    v
}
