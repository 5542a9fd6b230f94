//! `EmbeddedS3`: an S3-compatible server (s3s + s3s-fs) over a local folder, run in-process.
//!
//! It is what the single-machine default and the tests talk to, through the very same `Store` code
//! path as a real farm, so it checks SigV4 signatures like any S3 server would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{DEFAULT_REGION, StorageConfig};
use crate::credentials::{self, CREDENTIALS_FILE, KeyPair};
use crate::error::{StorageError, io_context};

/// How long shutdown waits for in-flight requests before dropping their connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A running embedded S3 server. Stops on [`EmbeddedS3::shutdown`] or when dropped.
pub struct EmbeddedS3 {
    addr: SocketAddr,
    root: PathBuf,
    keys: KeyPair,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedS3")
            .field("addr", &self.addr)
            .field("root", &self.root)
            .field("access_key", &self.keys.access_key)
            .finish_non_exhaustive()
    }
}

impl EmbeddedS3 {
    /// Serves `root` (created if missing) on `listen` until shutdown or drop.
    ///
    /// The listener is bound before this returns, so the server accepts requests immediately.
    /// Buckets are directories under `root`; the credentials live in
    /// `<root>/.stylefarm-s3-credentials`.
    pub async fn start(root: &Path, listen: SocketAddr) -> Result<EmbeddedS3, StorageError> {
        let root = root.to_owned();
        // File-system setup is blocking and small; keep it off the async worker threads.
        let (root, keys, fs) = tokio::task::spawn_blocking(move || prepare_root(root))
            .await
            .map_err(|e| {
                StorageError::Server(format!("setting up the data folder failed: {e}; retry"))
            })??;

        let service = build_service(fs, &keys);
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            StorageError::Server(format!(
                "could not listen on {listen}: {e}; choose another address or port, \
                 or stop whatever is using it"
            ))
        })?;
        let addr = listener.local_addr().map_err(|e| {
            StorageError::Server(format!("could not read the listening address: {e}; retry"))
        })?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(serve(listener, service, stop_rx));
        info!(%addr, root = %root.display(), "embedded S3 server listening");
        Ok(EmbeddedS3 {
            addr,
            root,
            keys,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// The address actually bound (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, usable as `StorageConfig::endpoint`.
    pub fn endpoint(&self) -> String {
        // A wildcard listen address is not something a client can connect to; loopback is.
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }

    /// A config for `bucket` / `prefix` on this server, with its credentials.
    pub fn storage_config(&self, bucket: &str, prefix: &str) -> StorageConfig {
        StorageConfig {
            endpoint: self.endpoint(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            access_key: self.keys.access_key.clone(),
            secret_key: self.keys.secret_key.clone(),
        }
    }

    /// The (canonical) folder being served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops accepting connections and waits (up to 10 s) for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error only means the server task already ended.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            warn!("embedded S3 server task ended abnormally: {e}");
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        // Dropping the sender wakes the server task, which then drains in the background.
        self.stop.take();
    }
}

/// Creates the root, loads or makes the credentials, and opens the s3s-fs backend.
fn prepare_root(root: PathBuf) -> Result<(PathBuf, KeyPair, s3s_fs::FileSystem), StorageError> {
    std::fs::create_dir_all(&root).map_err(|e| {
        io_context(
            e,
            "create the embedded S3 data folder",
            &root,
            "check the path and its permissions",
        )
    })?;
    let root = root
        .canonicalize()
        .map_err(|e| io_context(e, "resolve", &root, "check the path and its permissions"))?;
    let keys = credentials::load_or_create(&root)?;
    let fs = s3s_fs::FileSystem::new(&root).map_err(|e| {
        StorageError::Server(format!(
            "could not open {} as an S3 data folder: {e:?}; check that it is a readable, writable directory",
            root.display()
        ))
    })?;
    debug!(root = %root.display(), file = CREDENTIALS_FILE, "embedded S3 data folder ready");
    Ok((root, keys, fs))
}

fn build_service(fs: s3s_fs::FileSystem, keys: &KeyPair) -> S3Service {
    let mut builder = S3ServiceBuilder::new(fs);
    // With auth set, s3s verifies every request's SigV4 signature and refuses unsigned ones.
    builder.set_auth(SimpleAuth::from_single(
        keys.access_key.clone(),
        keys.secret_key.clone(),
    ));
    builder.build()
}

/// Accepts connections until `stop` fires (or its sender is dropped), then drains.
async fn serve(listener: TcpListener, service: S3Service, mut stop: oneshot::Receiver<()>) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let conn = http.serve_connection(TokioIo::new(socket), service.clone());
                    let conn = graceful.watch(conn.into_owned());
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            debug!(%peer, "embedded S3 connection ended with error: {e}");
                        }
                    });
                }
                Err(e) => {
                    warn!("embedded S3 server could not accept a connection: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = &mut stop => break,
        }
    }
    // Free the port at once, so a restart on the same address can bind while we drain.
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => debug!("embedded S3 server drained"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            warn!("embedded S3 server: requests still running after {DRAIN_TIMEOUT:?}; closing them");
        }
    }
    info!("embedded S3 server stopped");
}
