//! `stylefarm-coordinator`: the farm's brain. It turns submitted wire specs
//! into checked [`stylefarm_spec::JobSpec`]s at its service edge, plans each
//! into a DAG of typed task plans, keeps all state in SQLite, leases tasks to
//! workers with fencing epochs, retries and fails them, and serves the
//! `Farm` (clients) and `Work` (workers) gRPC services on one listener.
//!
//! ```no_run
//! # async fn run(storage: stylefarm_storage::StorageConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use stylefarm_coordinator::{Coordinator, CoordinatorConfig};
//! let coordinator = Coordinator::open(CoordinatorConfig::new("sqlite://farm.db", storage)).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7070").await?;
//! coordinator.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! Layout:
//! - `config`: [`CoordinatorConfig`] and its defaults
//! - `error`: [`CoordinatorError`]
//! - `server`: [`Coordinator`]: open, serve, the expired-lease reaper
//! - `jobs`: submit (check inputs, plan, store), get, list, cancel, watch
//! - `planner`: one plan per job kind → typed task plans and dependencies
//! - `lease`: the claim transaction, long polls, reaping expired leases
//! - `report`: heartbeat, complete, fail, release, all fenced by attempt
//! - `presign`: presigned URLs for the objects of a leased task
//! - `inputs`: uploads (content-addressed inputs) and downloads
//! - `workers`: registration and the fleet listing
//! - `schedules`: cron schedules of a job template, the loop that fires them
//! - `tokens`: bearer tokens, roles, who may call what
//! - `events`: job events, work notifications, in-memory progress
//! - `domain`: job and task states, and the views handed to the gRPC layer
//! - `db`: SQLite pool, migrations (`migrations/`), the single writer
//! - `repo`: every SQL statement, per table family
//! - `service`: the thin gRPC layer and the `CoordinatorError` → `Status` map
//! - `http`: [`HttpServer`]: /healthz, /readyz and /metrics over HTTP(S)
//! - `metrics`: the Prometheus metrics /metrics serves

mod config;
mod db;
mod domain;
mod error;
mod events;
mod files;
mod http;
mod inputs;
mod jobs;
mod lease;
mod metrics;
mod planner;
mod presign;
mod relay;
mod repo;
mod report;
mod retry;
mod schedules;
mod server;
mod service;
mod tokens;
mod workers;

pub use config::{CoordinatorConfig, ServerTls};
pub use error::CoordinatorError;
pub use http::HttpServer;
pub use server::Coordinator;
/// The database's error type, inside [`CoordinatorError::Database`].
pub use sqlx::Error as DatabaseError;
pub use tokens::{Role, new_token};

pub(crate) use error::Result;
