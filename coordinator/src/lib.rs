//! `stylefarm-coordinator`: the farm's brain. It validates submitted jobs,
//! plans each into a DAG of tasks, keeps all state in SQL (SQLite embedded;
//! the schema and queries are kept portable for PostgreSQL), leases tasks to
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
//! - `planner`: one plan function per job kind → tasks and dependencies
//! - `lease`: the claim transaction, long polls, reaping expired leases
//! - `report`: heartbeat, complete, fail, release, all fenced by attempt
//! - `inputs`: uploads (content-addressed inputs) and downloads
//! - `workers`: registration and the fleet listing
//! - `events`: job events, work notifications, in-memory progress
//! - `model`: domain states and views
//! - `db`: SQLite pool, migrations (`migrations/`), the single writer
//! - `repo`: every SQL statement, per table family
//! - `service`: the thin gRPC layer and the `CoordinatorError` → `Status` map

mod config;
mod db;
mod error;
mod events;
mod inputs;
mod jobs;
mod lease;
mod model;
mod planner;
mod repo;
mod report;
mod server;
mod service;
mod workers;

pub use config::CoordinatorConfig;
pub use error::CoordinatorError;
pub use server::Coordinator;

pub(crate) use error::Result;
