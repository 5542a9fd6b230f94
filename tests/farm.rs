//! The farm end to end: real coordinator and worker processes, the embedded
//! S3 server, CLI calls, kill -9 of a worker (a coordinator's outages:
//! outages.rs).

mod common;

use std::time::Duration;

use common::*;
use stylefarm_proto::pb;

const RENDER: [&str; 6] = [
    "--size",
    "48",
    "--iterations",
    "6",
    "--style-weight",
    "1000",
];

// Long on purpose: one scenario from start to end (farm, six jobs, downloads,
// comparison with local renders), whose steps depend on each other.
#[test]
fn six_jobs_on_two_workers_equal_local_renders() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let coord = coordinator(&dir.path().join("farm"), 0, 0, 10.0);
    let url = coord.url.clone();
    let _procs = Procs(vec![coord.child, worker(&url, "w0"), worker(&url, "w1")]);
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
        args.extend(["--coordinator", &url]);
        let id = ok(&stylefarm(&args)).trim().to_string();
        jobs.push((id, content.clone(), style.clone(), seed));
    }
    for (id, content, style, seed) in &jobs {
        ok(&stylefarm(&["watch", id, "--coordinator", &url]));
        let out = dir.path().join(format!("farm-{id}"));
        ok(&stylefarm(&[
            "get",
            id,
            "-o",
            out.to_str().unwrap(),
            "--coordinator",
            &url,
        ]));
        let farm_png = common::files_ending(&out, ".png");
        assert_eq!(farm_png.len(), 1, "{id}: {farm_png:?}");
        let name = farm_png[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let expected = format!(
            "{}__{}.png",
            content.file_stem().unwrap().to_string_lossy(),
            style.file_stem().unwrap().to_string_lossy()
        );
        assert_eq!(name, expected);
        assert!(out.join("manifest.json").is_file());

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
    // `jobs` counts each finished job's tasks.
    let listing = ok(&stylefarm(&["jobs", "--coordinator", &url]));
    for (id, ..) in &jobs {
        let line = listing
            .lines()
            .find(|l| l.starts_with(id.as_str()))
            .unwrap();
        assert!(
            line.contains("succeeded") && line.contains(" 1/1 "),
            "{line}"
        );
    }
    // `get -o FILE.png` writes exactly that file (re-encoded for .jpg); a
    // short id as progress lines print it names the job.
    let (id, ..) = &jobs[0];
    for file in ["one.png", "one.jpg"] {
        let path = dir.path().join(file);
        ok(&stylefarm(&[
            "get",
            &id[..8],
            "-o",
            path.to_str().unwrap(),
            "--coordinator",
            &url,
        ]));
        let img = stylefarm_engine::Image::load(&path, u64::MAX).unwrap();
        assert_eq!(img.width.max(img.height), 48);
    }
    let none = stylefarm(&["get", "zzzz", "--coordinator", &url]);
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        !none.status.success() && err.contains("no job zzzz"),
        "{err}"
    );
    let names: Vec<String> = list_workers(&url).into_iter().map(|w| w.name).collect();
    assert!(
        names.contains(&"w0".to_string()) && names.contains(&"w1".to_string()),
        "{names:?}"
    );
}

#[test]
fn a_worker_killed_mid_task_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let data = dir.path().join("farm");
    let coord = coordinator(&data, 0, 0, 2.0);
    let url = coord.url.clone();
    let mut procs = Procs(vec![coord.child, worker(&url, "w0")]);
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
        &url,
    ];
    let id = ok(&stylefarm(&args)).trim().to_string();
    // Wait until w0 holds the task and has made progress, then kill it.
    wait_for(Duration::from_secs(60), "w0 to run the task", || {
        let job = get_job(&url, &id);
        job.tasks
            .iter()
            .any(|t| t.progress.as_ref().is_some_and(|p| p.iteration >= 2))
            .then_some(())
    });
    kill(&mut procs.0[1]);
    procs.0.push(worker(&url, "w1"));
    // Watched from a log (stderr is a pipe here): plain lines with the
    // iteration and losses, no escape codes.
    let out = stylefarm(&["watch", &id, "--coordinator", &url]);
    ok(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(" iteration ") && log.contains("loss "),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "{log}");
    let job = get_job(&url, &id);
    assert_eq!(job.state(), pb::JobState::Succeeded);
    assert_eq!(job.tasks.len(), 1);
    assert!(
        job.tasks[0].attempt >= 2,
        "attempt {}",
        job.tasks[0].attempt
    );
    assert_eq!(results(&job).len(), 1, "{:?}", job.output_keys);
    let stored = files_ending(&data.join("objects"), "result.png");
    assert_eq!(stored.len(), 1, "{stored:?}");
}

// Long on purpose: one farm, a list of bad submissions each with the error it
// must give, then one good job to show the farm carried on.
#[test]
fn bad_jobs_and_images_are_clear_errors_and_the_farm_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let coord = coordinator(&dir.path().join("farm"), 0, 0, 10.0);
    let url = coord.url.clone();
    let _procs = Procs(vec![coord.child, worker(&url, "w0")]);
    let (content, style) = (imgs[0].to_str().unwrap(), imgs[2].to_str().unwrap());
    let truncated = dir.path().join("truncated.png");
    let bytes = std::fs::read(&imgs[1]).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, png_header(100_000, 100_000)).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![truncated.to_str().unwrap(), "--style", style],
            "truncated.png is incomplete or corrupt",
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
        args.extend(["--coordinator", &url]);
        let out = stylefarm(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(expect),
            "{args:?}: expected '{expect}' in: {err}"
        );
    }
    // A picture too thin for its size: one error, naming the sizes that
    // work, before anything is uploaded, and no log lines around it.
    let thin = dir.path().join("thin.png");
    stylefarm_engine::Image {
        width: 1200,
        height: 24,
        data: vec![0.5; 3 * 1200 * 24],
    }
    .save(&thin)
    .unwrap();
    let data = dir.path().join("render-data");
    let out = stylefarm(&[
        "render",
        thin.to_str().unwrap(),
        "--style",
        style,
        "--size",
        "64",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("1200×24") && err.contains("at least 800"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line, no log noise: {err}");
    assert!(!err.contains('\u{1b}'), "no escape codes: {err}");
    // The same picture as a style: named, refused before upload, with the fix.
    let out = stylefarm(&[
        "submit",
        content,
        "--style",
        thin.to_str().unwrap(),
        "--size",
        "64",
        "--coordinator",
        &url,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("thin.png is 1200×24") && err.contains("--style-scale"),
        "{err}"
    );
    // The same errors from the embedded farm of `render`, not hidden by its shutdown.
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
        &url,
    ]));
    // Followed from a log (stderr not a terminal): plain progress lines.
    let out = stylefarm(&["watch", id.trim(), "--coordinator", &url]);
    ok(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains(" succeeded"), "{log}");
    assert!(!log.contains('\u{1b}'), "no escape codes in a log: {log}");
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

/// A coordinator started before its S3 server (a compose file, a pod) says
/// that it cannot reach storage, retries, and serves once the server is up.
#[test]
fn a_coordinator_started_before_its_storage_waits_for_it() {
    use std::io::BufRead;
    use stylefarm_storage::EmbeddedS3;
    let dir = tempfile::tempdir().unwrap();
    let s3_root = dir.path().join("s3");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The S3 server makes its credentials at its first start.
    let keys = runtime.block_on(async {
        let s3 = EmbeddedS3::start(&s3_root, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let keys = s3.storage_config("farm", "");
        s3.shutdown().await;
        keys
    });
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut child = std::process::Command::new(BIN)
        .args([
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "off",
        ])
        .args([
            "--storage",
            "s3://farm",
            "--s3-endpoint",
            &endpoint,
            "--data-dir",
        ])
        .arg(dir.path().join("farm"))
        .env("AWS_ACCESS_KEY_ID", &keys.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &keys.secret_key)
        .env("STYLEFARM_ADMIN_TOKEN", TOKEN)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let waiting = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the coordinator ended"
        );
        if line.contains("retrying in") {
            break line;
        }
    };
    assert!(
        waiting.contains(&endpoint) && waiting.contains("waits for storage"),
        "{waiting}"
    );
    // Keep reading its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    let s3 = runtime
        .block_on(EmbeddedS3::start(
            &s3_root,
            format!("127.0.0.1:{port}").parse().unwrap(),
        ))
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("coordinator listening on ")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_owned();
    let _procs = Procs(vec![child]);
    ok(&stylefarm(&[
        "jobs",
        "--coordinator",
        &format!("http://{addr}"),
    ]));
    runtime.block_on(s3.shutdown());
}
