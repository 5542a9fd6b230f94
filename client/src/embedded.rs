//! The embedded farm: a coordinator over SQLite, the embedded S3 server and
//! N workers, all in this process and talking over loopback gRPC and S3 —
//! the same code paths as a real farm, with nothing to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stylefarm_coordinator::{Coordinator, CoordinatorConfig};
use stylefarm_proto::connect::Connection;
use stylefarm_storage::EmbeddedS3;
use stylefarm_worker::WorkerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{ClientError, Result};
use crate::farm::Farm;

/// Bucket of the embedded object store.
pub const BUCKET: &str = "stylefarm";

/// Longest the embedded workers may take to load the model and register.
const REGISTER_WITHIN: Duration = Duration::from_secs(120);

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

type Task = JoinHandle<std::result::Result<(), String>>;

/// A running embedded farm; [`EmbeddedFarm::shutdown`] stops it cleanly.
pub struct EmbeddedFarm {
    /// The coordinator on 127.0.0.1, with the farm's own admin token (made
    /// for this run and held only in memory).
    pub connection: Connection,
    stop: watch::Sender<bool>,
    coordinator: Task,
    workers: Vec<Task>,
    /// The error of the first worker that stopped with one (a failed GPU).
    worker_error: watch::Receiver<Option<String>>,
    s3: EmbeddedS3,
}

impl EmbeddedFarm {
    /// Starts the farm over `data_dir`: a coordinator with the defaults
    /// changed by `tune`, and `workers` workers configured as `worker` (its
    /// coordinator URL and name are set here); waits until every worker has
    /// registered.
    pub async fn start(
        data_dir: &Path,
        tune: impl FnOnce(&mut CoordinatorConfig),
        workers: usize,
        worker: WorkerConfig,
    ) -> Result<EmbeddedFarm> {
        std::fs::create_dir_all(data_dir).map_err(|cause| ClientError::Io {
            what: "cannot create",
            path: data_dir.to_owned(),
            cause,
        })?;
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let failed = |what: &str| {
            let what = what.to_owned();
            move |e: String| ClientError::Embedded(format!("{what}: {e}"))
        };
        let s3 = EmbeddedS3::start(&data_dir.join("objects"), loopback)
            .await
            .map_err(|e| failed("cannot start the S3 server")(e.to_string()))?;
        let mut config =
            CoordinatorConfig::new(default_db_url(data_dir), s3.storage_config(BUCKET, ""));
        tune(&mut config);
        // The farm's own token: the user needs none, and nothing else on
        // this machine can call the farm while it runs.
        let token = stylefarm_coordinator::new_token();
        config.admin_token = Some(token.clone());
        let coordinator = Coordinator::open(config)
            .await
            .map_err(|e| failed("cannot open the coordinator")(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(loopback)
            .await
            .map_err(|e| failed("cannot bind 127.0.0.1")(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| failed("cannot bind 127.0.0.1")(e.to_string()))?;
        let connection = Connection::new(format!("http://{addr}"), Some(token));
        let (stop, stop_rx) = watch::channel(false);
        let served = coordinator.serve(listener, stopped(stop_rx.clone()));
        let coordinator = tokio::spawn(async move { served.await.map_err(|e| e.to_string()) });
        let mut handles = Vec::new();
        let (error_tx, worker_error) = watch::channel(None);
        for i in 0..workers.max(1) {
            let config = WorkerConfig {
                coordinator: connection.clone(),
                name: format!("embedded-{i}"),
                ..worker.clone()
            };
            let run = stylefarm_worker::run(config, stopped(stop_rx.clone()));
            let error_tx = error_tx.clone();
            handles.push(tokio::spawn(async move {
                let ended = run.await.map_err(|e| e.to_string());
                if let Err(e) = &ended {
                    error_tx.send_if_modified(|first| {
                        let unset = first.is_none();
                        if unset {
                            *first = Some(e.clone());
                        }
                        unset
                    });
                }
                ended
            }));
        }
        let farm = EmbeddedFarm {
            connection,
            stop,
            coordinator,
            workers: handles,
            worker_error,
            s3,
        };
        if let Err(e) = farm.wait_for_workers().await {
            let _ = farm.shutdown().await;
            return Err(e);
        }
        Ok(farm)
    }

    /// Waits until every worker has registered, so that the coordinator
    /// knows what they can render before the first job is planned (a
    /// picture too big for them is split into tiles).
    async fn wait_for_workers(&self) -> Result<()> {
        let mut farm = Farm::connect(&self.connection).await?;
        let deadline = tokio::time::Instant::now() + REGISTER_WITHIN;
        loop {
            let alive = farm
                .list_workers()
                .await?
                .iter()
                .filter(|w| w.alive && w.name.starts_with("embedded-"))
                .count();
            if alive >= self.workers.len() {
                return Ok(());
            }
            if let Some(i) = self.workers.iter().position(|w| w.is_finished()) {
                return Err(ClientError::Embedded(format!(
                    "worker {i} stopped while starting (run with -v to see why)"
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ClientError::Embedded(format!(
                    "the workers did not register within {} s",
                    REGISTER_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resolves with the error of the first worker that stops with one (its
    /// GPU failed, say): with no worker of its own left the farm cannot
    /// finish a job, so a caller waiting for one stops waiting.
    pub async fn worker_stopped(&self) -> String {
        let mut rx = self.worker_error.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(e) => e.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops the workers (releasing what they hold), then the coordinator
    /// and the S3 server.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        for w in self.workers {
            // A worker still registering when the farm stops finds the
            // coordinator gone: nothing is lost, it had no task.
            match w.await {
                Ok(Err(e)) => tracing::debug!(error = %e, "worker stopped with an error"),
                Ok(Ok(())) => {}
                Err(e) => return Err(ClientError::Embedded(format!("worker task: {e}"))),
            }
        }
        let served = self
            .coordinator
            .await
            .map_err(|e| ClientError::Embedded(format!("coordinator task: {e}")))?;
        self.s3.shutdown().await;
        served.map_err(ClientError::Embedded)
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
