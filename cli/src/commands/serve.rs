//! `stylefarm coordinator` and `stylefarm worker`: the farm's long-running
//! processes. Both stop cleanly on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use stylefarm_coordinator::{Coordinator, CoordinatorConfig};
use stylefarm_engine::image::DEFAULT_MAX_PIXELS;
use stylefarm_storage::{EmbeddedS3, StorageConfig};
use stylefarm_worker::WorkerConfig;

use super::farm::coordinator_url;
use super::model;
use crate::args::{CoordinatorArgs, WorkerArgs};
use crate::config::FileConfig;
use crate::embedded::{BUCKET, default_data_dir, default_db_url};

pub async fn coordinator(args: CoordinatorArgs, config: &FileConfig) -> anyhow::Result<()> {
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| config.data_dir.clone())
        .unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
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
            let s3 = EmbeddedS3::start(&data_dir.join("objects"), listen).await?;
            let cfg = s3.storage_config(BUCKET, "");
            eprintln!(
                "embedded S3 server on {} over {}",
                s3.endpoint(),
                data_dir.join("objects").display()
            );
            embedded = Some(s3);
            cfg
        }
    };
    let db = args.db.clone().unwrap_or_else(|| default_db_url(&data_dir));
    let mut cfg = CoordinatorConfig::new(db, storage);
    cfg.lease_timeout = Duration::from_secs_f64(args.lease_timeout.max(0.1));
    cfg.heartbeat_interval = cfg.heartbeat_interval.min(cfg.lease_timeout / 3);
    let coordinator = Coordinator::open(cfg).await?;
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
    coordinator.serve(listener, shutdown_signal()).await?;
    if let Some(s3) = embedded {
        s3.shutdown().await;
    }
    Ok(())
}

pub async fn worker(args: WorkerArgs, config: &FileConfig) -> anyhow::Result<()> {
    let cfg = WorkerConfig {
        coordinator: coordinator_url(&args.farm, config),
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id())),
        device: args
            .device
            .clone()
            .or_else(|| config.device.clone())
            .unwrap_or_else(|| "cpu".into()),
        slots: args.slots,
        model_path: model::resolve(args.model.as_deref(), config),
        max_input_pixels: args
            .max_input_pixels
            .or(config.max_input_pixels)
            .unwrap_or(DEFAULT_MAX_PIXELS),
        lease_wait: Duration::from_secs(5),
        max_memory: args
            .max_memory
            .as_deref()
            .map(crate::engine_flags::parse_bytes)
            .transpose()?,
        untiled_pixels: args.untiled_pixels,
    };
    eprintln!("worker {} serving {}", cfg.name, cfg.coordinator);
    stylefarm_worker::run(cfg, shutdown_signal()).await?;
    Ok(())
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
