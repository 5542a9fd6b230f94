//! Shared helpers: a real embedded S3 server over a temporary folder.

use std::net::{Ipv4Addr, SocketAddr};

use stylefarm_storage::{EmbeddedS3, Store};

pub const BUCKET: &str = "stylefarm-test";

pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A running server over a fresh temp dir; the dir lives as long as the returned guard.
pub async fn server() -> (tempfile::TempDir, EmbeddedS3) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let s3 = EmbeddedS3::start(dir.path(), loopback())
        .await
        .expect("start embedded S3");
    (dir, s3)
}

pub async fn store(s3: &EmbeddedS3, prefix: &str) -> Store {
    Store::connect(s3.storage_config(BUCKET, prefix))
        .await
        .expect("connect store")
}
