//! A worker's life: load the model, register, run `slots` lease loops, and
//! on shutdown stop leasing and release what it holds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use stylefarm_engine::{DType, Vgg19, default_max_memory, max_untiled_pixels, parse_device};
use stylefarm_proto::connect::AuthChannel;
use stylefarm_proto::pb;
use stylefarm_proto::pb::work_client::WorkClient;
use stylefarm_storage::PresignedClient;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::WorkerConfig;
use crate::error::WorkerError;
use crate::objects::Objects;
use crate::stylize::Limits;
use crate::task::{self, Context};

/// Runs until `shutdown` resolves, then releases running tasks and returns.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WorkerError> {
    let device = parse_device(&config.device)?;
    let budget = config
        .max_memory
        .unwrap_or_else(|| default_max_memory(&device));
    let untiled = config
        .untiled_pixels
        .unwrap_or_else(|| max_untiled_pixels(&device, budget));
    let model_path = config.model_path.clone();
    let model = tokio::task::spawn_blocking(move || Vgg19::load(&model_path, &device, DType::F32))
        .await
        .map_err(|e| WorkerError::Join(e.to_string()))??;
    let model = Arc::new(model);

    let channel = config
        .coordinator
        .lazy()
        .map_err(|e| WorkerError::Connect {
            url: config.coordinator.url.clone(),
            message: e.to_string(),
        })?;
    let mut client = WorkClient::new(channel);
    let registered = register(&mut client, &config, budget, untiled).await?;
    let worker_id = registered.worker_id.clone();
    // Presigned URLs of an embedded S3 server behind TLS are signed by the
    // farm's CA, the one the coordinator's connection trusts.
    let http = PresignedClient::with_ca(config.coordinator.ca_pem.as_deref())?;
    let heartbeat = Duration::from_millis(registered.heartbeat_interval_ms.max(100) as u64);
    info!(worker = %worker_id, slots = config.slots, "worker registered");

    let ctx = Context {
        objects: Objects::new(client.clone(), http, worker_id.clone()),
        client,
        model,
        worker_id,
        heartbeat,
        limits: Limits {
            max_pixels: config.max_input_pixels,
            max_memory: config.max_memory,
        },
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (failed_tx, mut failed_rx) = tokio::sync::mpsc::channel::<String>(1);
    let mut slots = tokio::task::JoinSet::new();
    for slot in 0..config.slots.max(1) {
        let ctx = ctx.clone();
        let stop = stop_rx.clone();
        let wait = config.lease_wait;
        let failed = failed_tx.clone();
        slots.spawn(async move { lease_loop(ctx, slot, wait, stop, failed).await });
    }
    let device_failure = tokio::select! {
        _ = shutdown => {
            info!("shutdown requested: no more leases");
            None
        }
        Some(why) = failed_rx.recv() => {
            tracing::error!(error = %why, "the GPU failed: no more leases, releasing every task");
            Some(why)
        }
    };
    let _ = stop_tx.send(true);
    while slots.join_next().await.is_some() {}
    match device_failure {
        None => Ok(()),
        Some(why) => Err(WorkerError::DeviceFailed(why)),
    }
}

async fn register(
    client: &mut WorkClient<AuthChannel>,
    config: &WorkerConfig,
    memory_bytes: u64,
    max_untiled_pixels: u64,
) -> Result<pb::RegisterResponse, WorkerError> {
    let req = pb::RegisterRequest {
        name: config.name.clone(),
        device: config.device.clone(),
        memory_bytes,
        max_untiled_pixels,
        slots: config.slots as u32,
        engine_version: stylefarm_engine::VERSION.to_string(),
    };
    // The coordinator may still be starting: retry for a while before giving up.
    let mut delay = Duration::from_millis(100);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client.register(req.clone()).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s)
                if s.code() == tonic::Code::Unavailable
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(s) if s.code() == tonic::Code::Unavailable => {
                return Err(WorkerError::Connect {
                    url: config.coordinator.url.clone(),
                    message: s.message().to_string(),
                });
            }
            Err(s) => {
                return Err(WorkerError::Rpc {
                    call: "Register",
                    status: s,
                });
            }
        }
    }
}

/// Leases and runs tasks one at a time until `stop`; a GPU failure is sent
/// on `failed` and ends the loop.
async fn lease_loop(
    ctx: Context,
    slot: usize,
    wait: Duration,
    mut stop: watch::Receiver<bool>,
    failed: tokio::sync::mpsc::Sender<String>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        let req = pb::LeaseRequest {
            worker_id: ctx.worker_id.clone(),
            wait_ms: wait.as_millis() as u32,
        };
        let mut client = ctx.client.clone();
        let leased = tokio::select! {
            r = client.lease(req) => r,
            _ = stop.changed() => return,
        };
        match leased {
            Ok(r) => {
                backoff = Duration::from_millis(100);
                if let Some(t) = r.into_inner().task {
                    let outcome = task::execute(&ctx, t, stop.clone()).await;
                    tracing::debug!(slot, ?outcome, "slot free");
                    if let task::Outcome::DeviceFailed(why) = outcome {
                        let _ = failed.try_send(why);
                        return;
                    }
                }
            }
            Err(s) => {
                // Coordinator restarting or unreachable: keep trying, it loses nothing.
                warn!(slot, status = %s, "lease failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
