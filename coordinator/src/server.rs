//! [`Coordinator`]: opening the state, serving both gRPC services on one
//! listener, and the background reaper of expired leases.

use std::future::Future;
use std::sync::Arc;

use stylefarm_proto::pb::admin_server::AdminServer;
use stylefarm_proto::pb::farm_server::FarmServer;
use stylefarm_proto::pb::schedules_server::SchedulesServer;
use stylefarm_proto::pb::work_server::WorkServer;
use stylefarm_storage::Store;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, ServerTlsConfig};
use tracing::{info, warn};

use crate::config::CoordinatorConfig;
use crate::db::Db;
use crate::error::{CoordinatorError, Result};
use crate::events::Events;
use crate::lease::LeaseMemory;
use crate::metrics::Metrics;
use crate::service::{AdminService, FarmService, SchedulesService, WorkService};
use crate::tokens::{RateLimiter, rate_limiter, token_hash};

/// Largest gRPC message accepted: upload chunks are the big ones, and clients
/// send at most a few MiB per chunk.
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// The farm's coordinator. Cheap to clone: clones share one state.
#[derive(Clone, Debug)]
pub struct Coordinator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: CoordinatorConfig,
    pub(crate) db: Db,
    pub(crate) store: Store,
    pub(crate) events: Events,
    pub(crate) lease: LeaseMemory,
    pub(crate) metrics: Metrics,
    /// SHA-256 of the configuration's admin token.
    pub(crate) admin_token_hash: Option<String>,
    /// Calls per second per token name; `None`: no limit.
    pub(crate) rate_limiter: Option<RateLimiter>,
}

impl Coordinator {
    /// Opens the database (creating it and running migrations as needed) and
    /// connects to storage (creating the bucket if missing).
    pub async fn open(config: CoordinatorConfig) -> Result<Coordinator> {
        let db = Db::open(&config.db_url).await?;
        let store = Store::connect(config.storage.clone()).await?;
        info!(db = %config.db_url, storage = %config.storage.endpoint, "coordinator state opened");
        let admin_token_hash = config.admin_token.as_deref().map(token_hash);
        let rate_limiter = rate_limiter(config.max_requests_per_second);
        Ok(Coordinator {
            inner: Arc::new(Inner {
                admin_token_hash,
                rate_limiter,
                config,
                db,
                store,
                events: Events::new(),
                lease: LeaseMemory::default(),
                metrics: Metrics::new(),
            }),
        })
    }

    /// Serves the `Farm` and `Work` services on `listener` until `shutdown`
    /// completes, then drains: watch streams and long polls end at once,
    /// other calls finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, "coordinator serving");
        }
        self.start_relay().await?;
        let reaper = tokio::spawn(self.clone().reap_forever());
        let scheduler = tokio::spawn(self.clone().schedule_forever());
        let this = self.clone();
        let signal = async move {
            shutdown.await;
            info!("coordinator shutting down");
            this.inner.events.begin_shutdown();
        };
        let farm = FarmServer::new(FarmService::new(self.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let work = WorkServer::new(WorkService::new(self.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let admin = AdminServer::new(AdminService::new(self.clone()));
        let schedules = SchedulesServer::new(SchedulesService::new(self.clone()));
        let mut builder = tonic::transport::Server::builder().tcp_nodelay(true);
        if let Some(tls) = &self.config().tls {
            let identity = Identity::from_pem(&tls.cert_pem, &tls.key_pem);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .map_err(|e| CoordinatorError::Tls(e.to_string()))?;
        }
        let served = builder
            .add_service(farm)
            .add_service(work)
            .add_service(admin)
            .add_service(schedules)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
            .await;
        reaper.abort();
        scheduler.abort();
        served?;
        Ok(())
    }

    /// Fails or requeues expired leases every so often, so that a dead
    /// worker's task moves on (and a job that ran out of attempts fails)
    /// even when no other worker is asking for work.
    async fn reap_forever(self) {
        let period = self.reap_period();
        // At once: a restart grants the leases it finds their grace.
        if let Err(e) = self.reap_expired().await {
            warn!(error = %e, "reaping expired leases failed; retrying");
        }
        let mut shutdown = self.inner.events.shutdown_signal();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
            if let Err(e) = self.reap_expired().await {
                warn!(error = %e, "reaping expired leases failed; retrying");
            }
        }
    }

    pub(crate) fn config(&self) -> &CoordinatorConfig {
        &self.inner.config
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn events(&self) -> &Events {
        &self.inner.events
    }
}
