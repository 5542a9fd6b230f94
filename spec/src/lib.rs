//! `stylefarm-spec`: the vocabulary every crate of stylefarm agrees on. It
//! holds no I/O and depends on no crate of the workspace, so the engine, the
//! wire API, the coordinator, the workers and the CLI all share one
//! spelling of every name, one set of limits and one shape of a job.
//!
//! Layout:
//! - [`names`]: one enum per name a job uses ([`Optimizer`], [`Pooling`],
//!   [`Init`], [`OriginalColors`], [`JobKind`], [`GridAxis`], [`TaskKind`]) and
//!   the VGG-19
//!   layer names.
//! - [`limits`]: every bound on a job and its settings.
//! - [`render`]: [`RenderSettings`], neural-style's defaults, their checks.
//! - [`job`]: [`JobSpec`], what a client asks for, checked per kind.
//! - `masks`: region maps in a job (semantic style transfer, doodles).
//! - [`geometry`]: fitted sizes, tiles and grid cells.
//! - [`cache`]: where shared style targets live in object storage.
//! - [`series`]: [`SeriesInputs`], a scheduled job's photos chosen at each
//!   fire from its owner's files.
//! - [`task`]: [`TaskPlan`], what one task of a job does.
//! - [`video`]: [`VideoJob`], a video job's source and controls, its
//!   keyframes and the names of its files in storage.
//! - `error`: [`InvalidSpec`] and [`UnknownName`].

mod error;

pub mod cache;
pub mod geometry;
pub mod job;
pub mod limits;
mod masks;
pub mod names;
pub mod render;
pub mod series;
pub mod task;
pub mod video;

pub use error::{Check, InvalidSpec, Truncated, UnknownName, truncate};
pub use job::{FarmTiles, Grid, JobSpec, Picture, StyleInput};
pub use names::{
    GridAxis, Init, JobKind, Optimizer, OriginalColors, Pooling, Precision, TaskKind, VGG19_LAYERS,
    VideoFormat,
};
pub use render::{LayerWeight, RenderSettings, Scales};
pub use series::SeriesInputs;
pub use task::TaskPlan;
pub use video::VideoJob;
