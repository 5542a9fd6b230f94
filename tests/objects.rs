//! Objects through real coordinator processes: a 1 GiB input goes up and
//! comes back through a coordinator in pieces while its memory stays
//! bounded, and a job runs end to end on an S3 server that is not ours
//! (`STYLEFARM_TEST_S3`, which `scripts/with-s3` sets: moto).

mod common;

use common::*;
use sha2::{Digest, Sha256};
use stylefarm_proto::connect::Connection;
use stylefarm_proto::pb;
use stylefarm_proto::pb::farm_client::FarmClient;
use tokio_stream::StreamExt;

/// Bytes of each piece the test sends and of the whole object.
const PIECE: usize = 1 << 20;
const PIECES: usize = 1024;

/// Piece `i` of the object: one varied MiB, numbered so that no two
/// pieces are alike (a piece sent twice or out of order changes the hash).
fn piece(base: &[u8], i: usize) -> Vec<u8> {
    let mut p = base.to_vec();
    p[..8].copy_from_slice(&(i as u64).to_le_bytes());
    p
}

/// The process's peak resident memory (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

#[test]
fn a_gibibyte_passes_through_the_coordinator_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let coord = coordinator_with(
        &dir.path().join("farm"),
        0,
        0,
        10.0,
        &["--max-upload", "2GiB"],
    );
    let (url, pid) = (coord.url.clone(), coord.child.id());
    let _procs = Procs(vec![coord.child]);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let base: Vec<u8> = (0..PIECE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut sha = Sha256::new();
    for i in 0..PIECES {
        sha.update(piece(&base, i));
    }
    let digest = hex::encode(sha.finalize());
    let total = (PIECE * PIECES) as u64;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stored, back_size, back_digest) = runtime.block_on(async {
        let channel = Connection::new(&url, Some(TOKEN.into())).lazy().unwrap();
        let mut farm = FarmClient::new(channel);
        // Made as the upload asks for them: the test holds no whole copy either.
        let base = base.clone();
        let pieces = tokio_stream::iter(0..PIECES).map(move |i| pb::UploadChunk {
            file_name: if i == 0 {
                "huge.png".into()
            } else {
                String::new()
            },
            data: piece(&base, i),
            file_path: String::new(),
        });
        let stored = farm.upload_input(pieces).await.unwrap().into_inner();
        let mut chunks = farm
            .download_output(pb::DownloadRequest {
                key: stored.input_key.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let (mut size, mut sha) = (0u64, Sha256::new());
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.unwrap();
            assert!(chunk.data.len() <= PIECE, "chunks of at most 1 MiB");
            size += chunk.data.len() as u64;
            sha.update(&chunk.data);
        }
        (stored, size, hex::encode(sha.finalize()))
    });
    assert_eq!(stored.input_key, format!("inputs/{digest}.png"));
    assert_eq!(stored.size, total);
    assert!(!stored.existed);
    assert_eq!(back_size, total);
    assert_eq!(back_digest, digest, "the object came back unchanged");
    // Only the input is left: the temporary upload was copied and deleted.
    let objects = files_ending(&dir.path().join("farm"), ".png");
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(std::fs::metadata(&objects[0]).unwrap().len(), total);

    let peak = peak_rss(pid);
    println!(
        "1 GiB up and down through the coordinator (embedded S3 in the same process): \
         peak resident memory {} MiB",
        peak >> 20
    );
    assert!(
        peak < 256 << 20,
        "the coordinator's peak memory was {} MiB for a 1024 MiB object: it held it whole",
        peak >> 20
    );
}

#[test]
fn a_job_runs_on_another_s3_implementation() {
    let Some(endpoint) = std::env::var("STYLEFARM_TEST_S3")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("STYLEFARM_TEST_S3 is not set: skipped (scripts/with-s3 runs it on moto)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let bucket = format!("s3://stylefarm-e2e-{}", std::process::id());
    // moto takes any keys.
    let coord = coordinator_env(
        &dir.path().join("farm"),
        0,
        0,
        10.0,
        &["--storage", &bucket, "--s3-endpoint", &endpoint],
        &[
            ("AWS_ACCESS_KEY_ID", "stylefarm-test"),
            ("AWS_SECRET_ACCESS_KEY", "stylefarm-test-secret"),
        ],
    );
    let url = coord.url.clone();
    let _procs = Procs(vec![coord.child, worker(&url, "w0")]);
    let out = dir.path().join("out.png");
    let job = run_job(
        &url,
        &[
            imgs[0].to_str().unwrap(),
            "--style",
            imgs[1].to_str().unwrap(),
            "--size",
            "48",
            "--iterations",
            "5",
        ],
        &out,
    );
    assert_eq!(job.tasks.len(), 1);
    let picture = stylefarm_engine::Image::load(&out, u64::MAX).unwrap();
    assert_eq!(picture.width.max(picture.height), 48);
    // The worker's output went to moto, not to a folder of ours.
    assert!(files_ending(&dir.path().join("farm"), ".png").is_empty());
}
