//! The embedded farm: a coordinator over SQLite, the embedded S3 server and
//! N workers, all in this process and talking over loopback gRPC and S3 —
//! the same code paths as a real farm, with nothing to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use stylefarm_coordinator::{Coordinator, CoordinatorConfig};
use stylefarm_storage::EmbeddedS3;
use stylefarm_worker::WorkerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Bucket of the embedded object store.
pub const BUCKET: &str = "stylefarm";

/// The user's data folder: `$XDG_DATA_HOME/stylefarm` or `~/.local/share/stylefarm`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("stylefarm")
}

/// `sqlite://DIR/stylefarm.db`.
pub fn default_db_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("stylefarm.db").display())
}

/// A running embedded farm; `shutdown` stops it cleanly.
pub struct EmbeddedFarm {
    pub url: String,
    stop: watch::Sender<bool>,
    coordinator: JoinHandle<anyhow::Result<()>>,
    workers: Vec<JoinHandle<anyhow::Result<()>>>,
    s3: EmbeddedS3,
}

impl EmbeddedFarm {
    pub async fn start(
        data_dir: &Path,
        workers: usize,
        worker: WorkerConfig,
    ) -> anyhow::Result<EmbeddedFarm> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let s3 = EmbeddedS3::start(&data_dir.join("objects"), loopback).await?;
        let config =
            CoordinatorConfig::new(default_db_url(data_dir), s3.storage_config(BUCKET, ""));
        let coordinator = Coordinator::open(config).await?;
        let listener = tokio::net::TcpListener::bind(loopback)
            .await
            .context("cannot bind 127.0.0.1")?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stop_rx) = watch::channel(false);
        let coordinator = tokio::spawn(map_ok(
            coordinator.serve(listener, stopped(stop_rx.clone())),
        ));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let config = WorkerConfig {
                coordinator: url.clone(),
                name: format!("embedded-{i}"),
                ..worker.clone()
            };
            handles.push(tokio::spawn(map_ok(stylefarm_worker::run(
                config,
                stopped(stop_rx.clone()),
            ))));
        }
        let farm = EmbeddedFarm {
            url,
            stop,
            coordinator,
            workers: handles,
            s3,
        };
        farm.wait_for_workers().await?;
        Ok(farm)
    }

    /// Waits until every worker has registered, so that the coordinator
    /// knows what they can render before the first job is planned (a
    /// picture too big for them is split into tiles).
    async fn wait_for_workers(&self) -> anyhow::Result<()> {
        let mut client = crate::client::connect(&self.url).await?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let listed = client
                .list_workers(stylefarm_proto::pb::ListWorkersRequest {})
                .await
                .map_err(|s| anyhow::anyhow!("cannot list the embedded workers: {}", s.message()))?
                .into_inner();
            let alive = listed
                .workers
                .iter()
                .filter(|w| w.alive && w.name.starts_with("embedded-"))
                .count();
            if alive >= self.workers.len() {
                return Ok(());
            }
            if let Some(i) = self.workers.iter().position(|w| w.is_finished()) {
                anyhow::bail!("embedded worker {i} stopped while starting (see the log above)");
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("the embedded workers did not register within 120 s");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        for w in self.workers {
            // A worker still registering when the farm stops finds the
            // coordinator gone: nothing is lost, it had no task.
            if let Err(e) = w.await.context("worker task")? {
                tracing::debug!(error = %e, "worker stopped with an error during shutdown");
            }
        }
        self.coordinator.await.context("coordinator task")??;
        self.s3.shutdown().await;
        Ok(())
    }
}

/// Resolves once the flag turns true (or its sender is gone).
pub async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// A task's result with its error made `anyhow` and its value dropped.
async fn map_ok<T, E: Into<anyhow::Error>>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<()> {
    f.await.map(|_| ()).map_err(Into::into)
}
