//! `stylefarm-worker`: lease a task → fetch its inputs → run the engine →
//! upload the outputs → complete, with heartbeats carrying progress (and
//! bringing back cancellations) while it runs.
//!
//! Layout:
//! - [`config`]: what a worker needs to start.
//! - `run`: registration, the lease loop per slot, shutdown.
//! - `task`: one leased task: its typed plan (`stylefarm_spec::TaskPlan`),
//!   heartbeats while it runs, then complete, fail or release.
//! - `stylize`: fetch inputs → a synchronous render → upload outputs.
//! - `inputs`: what a render reads, fetched and decoded (once per batch).
//! - `batch`: several same-size pictures rendered together (one after
//!   another where the engine cannot batch them).
//! - `guided`: renders and targets guided by region maps (semantic style
//!   transfer, doodles).
//! - `objects`: storage as a task sees it, through presigned URLs (the
//!   worker holds no storage keys).
//! - `settings`: a job's render settings → the engine's.
//! - `targets`: style Gram targets into the shared cache.
//! - `assemble`: contact sheets, gallery pages and highres mosaics (`font`:
//!   the labels).
//! - `video`: the steps of a video job (frames, flow, keyframes, segment,
//!   encode).
//! - [`quality`]: seam and difference measures of assembled pictures.
//! - [`error`]: the crate's error type.

mod assemble;
mod batch;
pub mod config;
pub mod error;
mod font;
mod guided;
mod inputs;
mod objects;
pub mod quality;
mod run;
mod settings;
mod stylize;
mod targets;
mod task;
mod video;

pub use config::WorkerConfig;
pub use error::WorkerError;
pub use run::run;
pub use settings::engine_settings;
