//! `stylefarm coordinator` and `stylefarm worker`: the farm's long-running
//! processes. Both stop cleanly on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use stylefarm_client::{BUCKET, default_db_url};
use stylefarm_coordinator::{Coordinator, CoordinatorConfig, CoordinatorError, ServerTls};
use stylefarm_storage::{EmbeddedS3, StorageConfig, StorageError};
use stylefarm_worker::WorkerConfig;

use crate::args::{CoordinatorArgs, WorkerArgs};
use crate::settings::{ADMIN_TOKEN_FILE, Settings};

pub async fn coordinator(args: CoordinatorArgs, settings: &Settings) -> anyhow::Result<()> {
    settings.farm.check()?;
    let data_dir = &settings.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read =
                |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
            Some(ServerTls {
                cert_pem: read(cert)?,
                key_pem: read(key)?,
            })
        }
        _ => None,
    };
    let mut embedded = None;
    let storage = match (&args.storage, &args.s3_endpoint) {
        (Some(url), Some(endpoint)) => {
            let rest = url
                .strip_prefix("s3://")
                .with_context(|| format!("--storage {url}: expected s3://BUCKET[/PREFIX]"))?;
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            StorageConfig::from_env_credentials(
                endpoint.as_str(),
                bucket,
                prefix.trim_end_matches('/'),
            )?
        }
        (Some(_), None) => {
            anyhow::bail!("--storage needs --s3-endpoint URL of the S3-compatible server")
        }
        (None, _) => {
            let listen: SocketAddr = args
                .s3_listen
                .parse()
                .with_context(|| format!("--s3-listen {}", args.s3_listen))?;
            let root = data_dir.join("objects");
            // With TLS, workers reach the embedded S3 server over https
            // with the same certificate as gRPC.
            let s3 = match &tls {
                Some(tls) => EmbeddedS3::start_tls(&root, listen, &tls.cert_pem, &tls.key_pem)
                    .await
                    .context("--tls-cert/--tls-key for the embedded S3 server")?,
                None => EmbeddedS3::start(&root, listen).await?,
            };
            let cfg = s3.storage_config(BUCKET, "");
            eprintln!(
                "embedded S3 server on {} over {}",
                cfg.public_endpoint.as_deref().unwrap_or(&cfg.endpoint),
                root.display()
            );
            embedded = Some(s3);
            cfg
        }
    };
    let db = args.db.clone().unwrap_or_else(|| default_db_url(data_dir));
    let mut cfg = CoordinatorConfig::new(db, storage);
    settings.farm.apply(&mut cfg);
    cfg.admin_token = Some(match &settings.admin_token {
        Some(token) => token.trim().to_owned(),
        None => admin_token_file(data_dir)?,
    });
    cfg.tls = tls;
    let Some(coordinator) = open_with_retries(cfg).await? else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another coordinator running?",
                args.listen
            )
        })?;
    // Tests and scripts read this line to learn the port when listening on :0.
    println!("coordinator listening on {}", listener.local_addr()?);
    let http = match args.http_listen.as_str() {
        "off" => None,
        addr => {
            let listener = std::net::TcpListener::bind(addr).with_context(|| {
                format!(
                    "cannot listen on {addr} for HTTP (/healthz, /readyz, /metrics): \
                     choose another --http-listen address, or `--http-listen off`"
                )
            })?;
            let http = coordinator.serve_http(listener).await?;
            // The second line, after the gRPC one.
            println!("coordinator HTTP on {}", http.local_addr());
            Some(http)
        }
    };
    // /readyz answers 503 while gRPC drains, until both stop.
    coordinator.serve(listener, shutdown_signal()).await?;
    if let Some(http) = http {
        http.shutdown().await;
    }
    if let Some(s3) = embedded {
        s3.shutdown().await;
    }
    Ok(())
}

pub async fn worker(args: WorkerArgs, settings: &Settings) -> anyhow::Result<()> {
    let cfg = WorkerConfig {
        coordinator: settings.connection()?,
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id())),
        device: settings.device.clone(),
        slots: args.slots,
        model_path: settings.model.clone(),
        max_input_pixels: settings.max_input_pixels,
        lease_wait: Duration::from_secs(5),
        max_memory: args.max_memory.map(|b| b.0),
        untiled_pixels: args.untiled_pixels,
    };
    eprintln!("worker {} serving {}", cfg.name, cfg.coordinator.url);
    stylefarm_worker::run(cfg, shutdown_signal()).await?;
    Ok(())
}

/// Longest wait between two tries to reach the database or storage.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Opens the coordinator's state, retrying with backoff (1 s doubling to
/// 30 s) while its storage or database cannot be reached, and saying which
/// each time: a coordinator started before its S3 server or database (a
/// compose file, a pod) waits for it. Other errors (a bad setting) end at
/// once. `None` if told to stop while waiting.
async fn open_with_retries(cfg: CoordinatorConfig) -> anyhow::Result<Option<Coordinator>> {
    let mut backoff = Duration::from_secs(1);
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let e = match Coordinator::open(cfg.clone()).await {
            Ok(coordinator) => return Ok(Some(coordinator)),
            Err(e) => e,
        };
        let what = match &e {
            CoordinatorError::Storage(StorageError::Unreachable { .. }) => "storage",
            CoordinatorError::Database(sqlx_error) if is_unreachable(sqlx_error) => "the database",
            _ => return Err(e.into()),
        };
        eprintln!(
            "{e}; the coordinator waits for {what}, retrying in {} s",
            backoff.as_secs()
        );
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = &mut stop => return Ok(None),
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A database error that waiting may cure (I/O, no connection in time).
fn is_unreachable(e: &stylefarm_coordinator::DatabaseError) -> bool {
    matches!(
        e,
        stylefarm_coordinator::DatabaseError::Io(_)
            | stylefarm_coordinator::DatabaseError::PoolTimedOut
    )
}

/// The admin token in `DATA_DIR/admin.token`, created (readable by this
/// user only) at the first start: the token that creates the farm's other
/// tokens when none is configured (`STYLEFARM_ADMIN_TOKEN`).
fn admin_token_file(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => anyhow::bail!(
            "{} is empty: delete it to have a new admin token made, or set STYLEFARM_ADMIN_TOKEN",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let token = stylefarm_coordinator::new_token();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "admin token written to {} (readable by this user only); `stylefarm token create` makes tokens for clients and workers",
        path.display()
    );
    Ok(token)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "worker".into())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
