//! Shared helpers: a real S3 server, the embedded one over a temporary
//! folder, or for the tests that take any server ([`any_server`]) the one
//! `STYLEFARM_TEST_S3` names (`scripts/with-s3`: moto).
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};

use stylefarm_storage::{DEFAULT_REGION, EmbeddedS3, StorageConfig, Store};

pub const BUCKET: &str = "stylefarm-test";

/// The environment variable naming a second S3-compatible server's endpoint.
pub const S3_ENV: &str = "STYLEFARM_TEST_S3";

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

/// The server a test of `Store` runs against.
pub enum TestS3 {
    /// The embedded server, over a temporary folder.
    Embedded(tempfile::TempDir, EmbeddedS3),
    /// Another implementation at this endpoint, with a bucket of this test's own (the server
    /// is shared by every test of the run).
    External { endpoint: String, bucket: String },
}

/// The server of `STYLEFARM_TEST_S3` where it is set, else a new embedded one.
pub async fn any_server() -> TestS3 {
    match std::env::var(S3_ENV) {
        Ok(endpoint) if !endpoint.is_empty() => TestS3::External {
            endpoint,
            bucket: format!("stylefarm-test-{:016x}", rand::random::<u64>()),
        },
        _ => {
            let (dir, s3) = server().await;
            TestS3::Embedded(dir, s3)
        }
    }
}

impl TestS3 {
    /// Its settings, for the test's bucket under `prefix`.
    pub fn config(&self, prefix: &str) -> StorageConfig {
        match self {
            TestS3::Embedded(_, s3) => s3.storage_config(BUCKET, prefix),
            // moto takes any keys.
            TestS3::External { endpoint, bucket } => StorageConfig {
                endpoint: endpoint.clone(),
                bucket: bucket.clone(),
                prefix: prefix.to_owned(),
                region: DEFAULT_REGION.to_owned(),
                access_key: "stylefarm-test".to_owned(),
                secret_key: "stylefarm-test-secret".to_owned(),
                public_endpoint: None,
            },
        }
    }

    pub async fn store(&self, prefix: &str) -> Store {
        Store::connect(self.config(prefix))
            .await
            .expect("connect store")
    }

    pub fn endpoint(&self) -> String {
        self.config("").endpoint
    }

    pub fn bucket(&self) -> String {
        self.config("").bucket
    }

    /// Whether this is the embedded server (some checks look at its folder or its signature
    /// checks, which other servers may not make: docs/storage.md).
    pub fn embedded(&self) -> Option<&EmbeddedS3> {
        match self {
            TestS3::Embedded(_, s3) => Some(s3),
            TestS3::External { .. } => None,
        }
    }
}
