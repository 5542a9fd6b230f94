//! `tracing` output: human-readable by default, JSON with `--log-format json`.

use tracing_subscriber::EnvFilter;

pub fn init(format: Option<&str>, verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,stylefarm=info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("STYLEFARM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        Some("json") => builder.json().try_init(),
        _ => builder.try_init(),
    };
}
