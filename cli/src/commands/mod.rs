//! One module per subcommand; `run` dispatches, on a tokio runtime for the
//! farm commands.

mod farm;
mod model;
mod render;
mod serve;

use anyhow::Context;

use crate::args::{Command, ModelCommand};
use crate::config::FileConfig;

pub fn run(command: Command, config: &FileConfig) -> anyhow::Result<()> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start tokio")
    };
    match command {
        Command::Model(ModelCommand::Fetch { force }) => model::fetch(force),
        Command::Model(ModelCommand::Path) => model::print_path(config),
        Command::Render(args) => runtime()?.block_on(render::run(args, config)),
        Command::Coordinator(args) => runtime()?.block_on(serve::coordinator(args, config)),
        Command::Worker(args) => runtime()?.block_on(serve::worker(args, config)),
        Command::Submit(args) => runtime()?.block_on(farm::submit(args, config)),
        Command::Watch { job, farm } => runtime()?.block_on(farm::watch(job, farm, config)),
        Command::Get { job, output, farm } => {
            runtime()?.block_on(farm::get(job, output, farm, config))
        }
        Command::Jobs { farm } => runtime()?.block_on(farm::jobs(farm, config)),
        Command::Workers { farm } => runtime()?.block_on(farm::workers(farm, config)),
        Command::Cancel { job, farm } => runtime()?.block_on(farm::cancel(job, farm, config)),
    }
}
