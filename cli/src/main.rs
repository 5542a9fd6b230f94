//! `stylefarm`: the one binary. Parses flags, then hands over to a command.

mod args;
mod client;
mod commands;
mod config;
mod embedded;
mod engine_flags;
mod job;
mod logging;
mod wire;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let config = match config::FileConfig::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    logging::init(
        cli.log_format.as_deref().or(config.log_format.as_deref()),
        cli.verbose,
    );
    match commands::run(cli.command, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
