//! Every bound on a job and its settings, in one place: the CLI checks them
//! before uploading, the coordinator at submit, the engine before rendering.

/// Smallest image side in pixels: relu5_1 needs 16 pixels to see one.
pub const MIN_SIDE: u32 = 16;
/// Largest image side in pixels (a 16K print).
pub const MAX_SIDE: u32 = 16_384;
/// Most optimiser iterations per scale.
pub const MAX_ITERATIONS: u32 = 100_000;
/// Most L-BFGS correction pairs.
pub const MAX_LBFGS_HISTORY: u32 = 1_000;
/// Largest style scale (style image side relative to the output's).
pub const MAX_STYLE_SCALE: f64 = 8.0;
/// Smallest tile, in pixels, of the engine's exact tiling and of a farm's
/// highres tiles; tiles are multiples of 16 (every pooling window stays in
/// one tile).
pub const MIN_TILE: u32 = 32;
/// Largest tile the coordinator chooses when it splits a job by itself.
pub const MAX_AUTO_TILE: u32 = 1_024;
/// Most tiles at the finest scale of a highres job.
pub const MAX_TILES: usize = 4_096;
/// Smallest memory budget of one evaluation, in bytes (64 MiB).
pub const MIN_MEMORY: u64 = 64 << 20;
/// Fewest cells along a grid axis.
pub const MIN_STEPS: u32 = 2;
/// Most cells along a grid axis.
pub const MAX_STEPS: u32 = 32;
/// Most content × style pairs in one gallery.
pub const MAX_GALLERY_CELLS: usize = 1_024;
/// Most pictures in one batch task: past a dozen or so a GPU is full, and a
/// larger batch only makes a retry costlier.
pub const MAX_BATCH: u32 = 16;
/// Longest accepted input key, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Longest job name or label, in characters.
pub const MAX_NAME_LEN: usize = 256;
/// Longest model id, in characters.
pub const MAX_MODEL_ID_LEN: usize = 128;
/// Input images whose header claims more pixels than this are refused
/// before any pixel is decoded (a decompression-bomb guard); settable per
/// command with `--max-input-pixels`.
pub const DEFAULT_MAX_INPUT_PIXELS: u64 = 300_000_000;
/// Most frames of one video job (an hour at 25 frames per second).
pub const MAX_VIDEO_FRAMES: u32 = 90_000;
/// Largest keyframe interval of a video job, frames.
pub const MAX_KEYFRAME_EVERY: u32 = 1_000;
/// Highest frame rate of a video job, frames per second.
pub const MAX_FPS: f64 = 240.0;
