//! `tracing` output on stderr: human-readable by default (colours only on a
//! terminal), JSON with `--log-format json`.
//!
//! The long-running processes (`coordinator`, `worker`) log warnings by
//! default. Commands a person runs (`render`, `submit`, …) log nothing
//! unless asked (`-v`, `STYLEFARM_LOG`): their one error is printed on its
//! own, and `render`'s in-process farm does not speak over it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

pub fn init(format: LogFormat, verbose: u8, server: bool) {
    let default = match verbose {
        0 if server => "warn",
        0 => "off",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("STYLEFARM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
