//! What a worker needs to start.

use std::path::PathBuf;
use std::time::Duration;

use stylefarm_proto::connect::Connection;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The coordinator (`http://127.0.0.1:7070`, or https with a CA) and
    /// the worker's token (role `worker` or `admin`).
    pub coordinator: Connection,
    /// Shown in `stylefarm workers`.
    pub name: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Tasks run at once (each uses all cores; 1 is right for one CPU).
    pub slots: usize,
    pub model_path: PathBuf,
    /// Input images above this many pixels fail the task (checked before decoding).
    pub max_input_pixels: u64,
    /// How long one Lease call may wait for work.
    pub lease_wait: Duration,
    /// Memory budget of one render, for tasks whose job sets none
    /// [default: the engine's, half the RAM on CPU, 16 GiB on GPU].
    pub max_memory: Option<u64>,
    /// Largest picture (pixels) to render in one piece, as told to the
    /// coordinator, which splits bigger single jobs into tiles
    /// [default: what `max_memory` allows].
    pub untiled_pixels: Option<u64>,
}
