//! One module per subcommand (`token`: token management); `run` dispatches, on a tokio runtime for the
//! farm commands.

mod farm;
mod files;
mod model;
mod render;
mod schedule;
mod score;
mod serve;
mod token;

use anyhow::Context;

use crate::args::{Command, ModelCommand};
use crate::settings::Settings;

pub fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start tokio")
    };
    match command {
        Command::Model(ModelCommand::Fetch { force }) => model::fetch(force),
        Command::Model(ModelCommand::Path) => model::print_path(settings),
        Command::Score(args) => score::run(&args, settings),
        Command::Render(args) => runtime()?.block_on(render::run(args, settings)),
        Command::Coordinator(args) => runtime()?.block_on(serve::coordinator(args, settings)),
        Command::Worker(args) => runtime()?.block_on(serve::worker(args, settings)),
        Command::Submit(args) => runtime()?.block_on(farm::submit(args, settings)),
        Command::Watch { job, .. } => runtime()?.block_on(farm::watch(job, settings)),
        Command::Get { job, output, .. } => runtime()?.block_on(farm::get(job, output, settings)),
        Command::Jobs { .. } => runtime()?.block_on(farm::jobs(settings)),
        Command::Workers { .. } => runtime()?.block_on(farm::workers(settings)),
        Command::Cancel { job, .. } => runtime()?.block_on(farm::cancel(job, settings)),
        Command::Retry { job, .. } => runtime()?.block_on(farm::retry(job, settings)),
        Command::Files(command) => runtime()?.block_on(files::run(command, settings)),
        Command::Series(command) => runtime()?.block_on(files::series(command, settings)),
        Command::Token(command) => runtime()?.block_on(token::run(command, settings)),
        Command::Schedule(command) => runtime()?.block_on(schedule::run(command, settings)),
    }
}
