//! Real processes for the end-to-end tests: a `stylefarm coordinator` (with
//! its embedded S3 server), `stylefarm worker`s, and CLI calls, all on
//! 127.0.0.1. The real VGG-19 must have been fetched (`scripts/test` does).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use stylefarm_engine::Image;

pub const BIN: &str = env!("CARGO_BIN_EXE_stylefarm");

/// The admin token of the test farms: each coordinator is started with it
/// as `STYLEFARM_ADMIN_TOKEN`, and CLI calls and workers carry it as
/// `STYLEFARM_TOKEN` (the tests of tokens and roles make their own).
pub const TOKEN: &str = "sf_0000000000000000000000000000000000000000000000000000000000test";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a CLI command to its end, with the test farms' admin token.
pub fn stylefarm(args: &[&str]) -> Output {
    stylefarm_as(Some(TOKEN), args)
}

/// Runs a CLI command to its end with `token` as `STYLEFARM_TOKEN` (none:
/// no token at all).
pub fn stylefarm_as(token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).stdin(Stdio::null());
    match token {
        Some(token) => command.env("STYLEFARM_TOKEN", token),
        // Nor the admin.token of a coordinator of the user's own.
        None => command
            .env_remove("STYLEFARM_TOKEN")
            .env("XDG_DATA_HOME", "/nonexistent"),
    };
    command.output().expect("run stylefarm")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Coordinator {
    pub child: Child,
    pub url: String,
    /// Address of its HTTP endpoints (/healthz, /readyz, /metrics).
    pub http: String,
}

/// Starts a coordinator over `data_dir` and waits for its "listening" line.
pub fn coordinator(data_dir: &Path, port: u16, s3_port: u16, lease_timeout: f64) -> Coordinator {
    coordinator_with(data_dir, port, s3_port, lease_timeout, &[])
}

/// A coordinator with extra flags (its URL is http:// whatever they say).
pub fn coordinator_with(
    data_dir: &Path,
    port: u16,
    s3_port: u16,
    lease_timeout: f64,
    extra: &[&str],
) -> Coordinator {
    coordinator_env(data_dir, port, s3_port, lease_timeout, extra, &[])
}

/// A coordinator with extra flags and environment variables.
pub fn coordinator_env(
    data_dir: &Path,
    port: u16,
    s3_port: u16,
    lease_timeout: f64,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Coordinator {
    let mut child = Command::new(BIN)
        .args(["coordinator", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--s3-listen", &format!("127.0.0.1:{s3_port}")])
        .args(["--lease-timeout", &lease_timeout.to_string()])
        .args(["--http-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .envs(env.iter().copied())
        .env("STYLEFARM_ADMIN_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn coordinator");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut read_after = |prefix: &str| {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got: {line}"))
            .to_owned()
    };
    let addr = read_after("coordinator listening on ");
    let http = read_after("coordinator HTTP on ");
    Coordinator {
        child,
        url: format!("http://{addr}"),
        http,
    }
}

pub fn worker(url: &str, name: &str) -> Child {
    worker_with(url, name, &[])
}

/// A worker process with extra flags.
pub fn worker_with(url: &str, name: &str, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["worker", "--coordinator", url, "--name", name])
        .args(extra)
        .env("STYLEFARM_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker")
}

/// Small copies of the repository's example pictures (examples/images).
pub fn small_images(dir: &Path) -> Vec<PathBuf> {
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/images");
    [
        "tubingen.jpg",
        "starry_night.jpg",
        "the_scream.jpg",
        "shipwreck.jpg",
    ]
    .iter()
    .map(|name| {
        let img = Image::load(&images.join(name), u64::MAX)
            .unwrap()
            .resize_long_side(64);
        let path = dir.join(name.replace(".jpg", ".png"));
        img.save(&path).unwrap();
        path
    })
    .collect()
}

/// Polls `f` every 50 ms until it returns Some, failing after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Object files below `root` whose path ends with `suffix`.
pub fn files_ending(root: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out
}

/// Kills the processes it holds when dropped: at the end of a test, passed
/// or failed (a failed assert unwinds through it), no child outlives it.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(kill);
    }
}

/// Runs a farm client call to its end on a runtime of its own.
pub fn farm_call<T>(
    url: &str,
    call: impl AsyncFnOnce(&mut stylefarm_client::Farm) -> stylefarm_client::Result<T>,
) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let to = stylefarm_client::Connection::new(url, Some(TOKEN.into()));
            let mut farm = stylefarm_client::Farm::connect(&to).await.unwrap();
            call(&mut farm).await.unwrap()
        })
}

/// The job as the coordinator sees it, over gRPC.
pub fn get_job(url: &str, job: &str) -> stylefarm_proto::pb::Job {
    farm_call(url, async |f| f.get_job(job).await)
}

/// Every worker the coordinator knows.
pub fn list_workers(url: &str) -> Vec<stylefarm_proto::pb::WorkerInfo> {
    farm_call(url, async |f| f.list_workers().await)
}

/// Submits, waits for the job to end and downloads its outputs into `out`;
/// returns the finished job.
pub fn run_job(url: &str, args: &[&str], out: &Path) -> stylefarm_proto::pb::Job {
    let mut all = vec!["submit"];
    all.extend(args);
    all.extend(["--coordinator", url]);
    let id = ok(&stylefarm(&all)).trim().to_string();
    ok(&stylefarm(&["watch", &id, "--coordinator", url]));
    let job = get_job(url, &id);
    assert_eq!(
        job.state(),
        stylefarm_proto::pb::JobState::Succeeded,
        "{job:?}"
    );
    ok(&stylefarm(&[
        "get",
        &id,
        "-o",
        out.to_str().unwrap(),
        "--coordinator",
        url,
    ]));
    job
}

/// The job's outputs that are a task's `result.png`.
pub fn results(job: &stylefarm_proto::pb::Job) -> Vec<&str> {
    job.output_keys
        .iter()
        .map(String::as_str)
        .filter(|k| k.ends_with("result.png"))
        .collect()
}

pub fn kinds_of(job: &stylefarm_proto::pb::Job, kind: &str) -> usize {
    job.tasks.iter().filter(|t| t.kind == kind).count()
}

/// A coordinator and two workers that render at most `untiled_pixels` in
/// one piece (bigger pictures are split into tiles), both registered;
/// returns the URL and the guard.
pub fn small_farm(dir: &Path, untiled_pixels: u64) -> (String, Procs) {
    let coord = coordinator(&dir.join("farm"), 0, 0, 10.0);
    let url = coord.url.clone();
    let limit = untiled_pixels.to_string();
    let small = ["--untiled-pixels", limit.as_str()];
    let procs = Procs(vec![
        coord.child,
        worker_with(&url, "w0", &small),
        worker_with(&url, "w1", &small),
    ]);
    wait_for(Duration::from_secs(60), "both workers to register", || {
        let w = list_workers(&url);
        (w.iter()
            .filter(|w| w.alive && w.max_untiled_pixels == untiled_pixels)
            .count()
            == 2)
            .then_some(())
    });
    (url, procs)
}
