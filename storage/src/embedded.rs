//! `EmbeddedS3`: an S3-compatible server (s3s + s3s-fs) over a local folder, run in-process.
//!
//! It is what the single-machine default and the tests talk to, through the very same `Store` code
//! path as a real farm, so it checks SigV4 signatures like any S3 server would.
//!
//! With TLS ([`EmbeddedS3::start_tls`], the coordinator's `--tls-cert`) it serves workers over
//! `https://` (rustls) on the address asked for, and the coordinator itself over plain HTTP on a
//! loopback port of its own: the coordinator needs no CA, and presigned URLs name the https one
//! ([`StorageConfig::public_endpoint`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
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
    /// The plain-HTTP listener: the one asked for, or with TLS a loopback one for the coordinator.
    addr: SocketAddr,
    /// With TLS: the https listener, the one asked for.
    tls_addr: Option<SocketAddr>,
    root: PathBuf,
    keys: KeyPair,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedS3")
            .field("addr", &self.addr)
            .field("tls_addr", &self.tls_addr)
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
        let (root, keys, service) = open(root).await?;
        let (listener, addr) = bind(listen).await?;
        let (stop, task) = spawn(listener, None, service);
        info!(%addr, root = %root.display(), "embedded S3 server listening");
        Ok(EmbeddedS3 {
            addr,
            tls_addr: None,
            root,
            keys,
            stops: vec![stop],
            tasks: vec![task],
        })
    }

    /// As [`EmbeddedS3::start`], serving `listen` over TLS with the PEM certificate chain
    /// `cert_pem` and its private key `key_pem` (for workers, through presigned URLs), and the
    /// coordinator over plain HTTP on a loopback port of its own.
    ///
    /// Errors: `BadConfig` (field `TLS`) for PEM data that holds no certificate or no key, or a
    /// key that does not fit the certificate.
    pub async fn start_tls(
        root: &Path,
        listen: SocketAddr,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<EmbeddedS3, StorageError> {
        let acceptor = tls_acceptor(cert_pem, key_pem)?;
        let (root, keys, service) = open(root).await?;
        let (public, tls_addr) = bind(listen).await?;
        let loopback = match listen.ip() {
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let (local, addr) = bind(SocketAddr::new(loopback, 0)).await?;
        let (stop_tls, task_tls) = spawn(public, Some(acceptor), service.clone());
        let (stop, task) = spawn(local, None, service);
        info!(%tls_addr, coordinator = %addr, root = %root.display(), "embedded S3 server listening over TLS");
        Ok(EmbeddedS3 {
            addr,
            tls_addr: Some(tls_addr),
            root,
            keys,
            stops: vec![stop_tls, stop],
            tasks: vec![task_tls, task],
        })
    }

    /// The plain-HTTP address actually bound (the real port when started on port 0): the one
    /// asked for, or with TLS the coordinator's loopback one (workers': [`Self::public_endpoint`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, usable as `StorageConfig::endpoint` (with TLS: the coordinator's
    /// loopback listener).
    pub fn endpoint(&self) -> String {
        format!("http://{}", connectable(self.addr))
    }

    /// With TLS, `https://IP:PORT` of the listener asked for: where workers reach the server
    /// (`StorageConfig::public_endpoint`).
    pub fn public_endpoint(&self) -> Option<String> {
        self.tls_addr
            .map(|addr| format!("https://{}", connectable(addr)))
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
            public_endpoint: self.public_endpoint(),
        }
    }

    /// The (canonical) folder being served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops accepting connections and waits (up to 10 s) for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        for stop in self.stops.drain(..) {
            // An error only means the server task already ended.
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            if let Err(e) = task.await {
                warn!("embedded S3 server task ended abnormally: {e}");
            }
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        // Dropping the senders wakes the server tasks, which then drain in the background.
        self.stops.clear();
    }
}

/// A wildcard listen address is not something a client can connect to; loopback is.
fn connectable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Prepares `root` and the S3 service over it.
async fn open(root: &Path) -> Result<(PathBuf, KeyPair, S3Service), StorageError> {
    let root = root.to_owned();
    // File-system setup is blocking and small; keep it off the async worker threads.
    let (root, keys, fs) = tokio::task::spawn_blocking(move || prepare_root(root))
        .await
        .map_err(|e| {
            StorageError::Server(format!("setting up the data folder failed: {e}; retry"))
        })??;
    let service = build_service(fs, &keys);
    Ok((root, keys, service))
}

async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), StorageError> {
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        StorageError::Server(format!(
            "could not listen on {listen}: {e}; choose another address or port, \
             or stop whatever is using it"
        ))
    })?;
    let addr = listener.local_addr().map_err(|e| {
        StorageError::Server(format!("could not read the listening address: {e}; retry"))
    })?;
    Ok((listener, addr))
}

fn spawn(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S3Service,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop_tx, stop_rx) = oneshot::channel();
    (
        stop_tx,
        tokio::spawn(serve(listener, tls, service, stop_rx)),
    )
}

/// A rustls acceptor for the PEM certificate chain and key (aws-lc-rs, the process's provider).
fn tls_acceptor(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, StorageError> {
    let bad = |reason: String| StorageError::BadConfig {
        field: "TLS".into(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("the certificate file is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "the certificate file holds no certificate; give a PEM certificate chain".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        bad(format!(
            "the key file holds no private key ({e}); give the PEM key of the certificate"
        ))
    })?;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(format!("the key does not fit the certificate: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
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

/// Accepts connections (TLS ones through `tls`) until `stop` fires (or its sender is dropped),
/// then drains.
async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S3Service,
    mut stop: oneshot::Receiver<()>,
) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let (http, service, watcher) = (http.clone(), service.clone(), graceful.watcher());
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let served = match tls {
                            None => {
                                let conn = http.serve_connection(TokioIo::new(socket), service);
                                watcher.watch(conn.into_owned()).await
                            }
                            Some(tls) => match tls.accept(socket).await {
                                Ok(stream) => {
                                    let conn = http.serve_connection(TokioIo::new(stream), service);
                                    watcher.watch(conn.into_owned()).await
                                }
                                Err(e) => {
                                    debug!(%peer, "embedded S3 TLS handshake failed: {e}");
                                    return;
                                }
                            },
                        };
                        if let Err(e) = served {
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
