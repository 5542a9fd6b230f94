//! `stylefarm`: the one binary. Parses flags, resolves the settings once,
//! then hands over to a command.

mod args;
mod commands;
mod job;
mod logging;
mod progress;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use crate::settings::Layer;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let flags = Layer {
        log_format: cli.log_format,
        ..cli.command.layer()
    };
    let settings = match Layer::from_config(cli.config.as_deref()) {
        Ok(config) => config.merge(flags).resolve(),
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let server = matches!(
        cli.command,
        args::Command::Coordinator(_) | args::Command::Worker(_)
    );
    logging::init(settings.log_format, cli.verbose, server);
    match commands::run(cli.command, &settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
