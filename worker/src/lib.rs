//! `stylefarm-worker`: lease a task → fetch its inputs → run the engine →
//! upload the outputs → complete, with heartbeats carrying progress (and
//! bringing back cancellations) while it runs.
//!
//! Layout:
//! - [`config`]: what a worker needs to start.
//! - `spec`: wire settings → engine settings.
//! - `task`: one task from inputs to outputs; stylize runs here.
//! - `targets`: style Gram targets into the shared cache.
//! - `assemble`: contact sheets and gallery pages (`font`: their labels).
//! - `run`: registration, the lease loop per slot, shutdown.
//! - [`error`]: the crate's error type.

mod assemble;
pub mod config;
pub mod error;
mod font;
pub mod quality;
mod run;
mod spec;
mod targets;
mod task;

pub use config::WorkerConfig;
pub use error::WorkerError;
pub use run::run;
