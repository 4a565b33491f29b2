//! One module per subcommand: its clap `Args` and its handler.

pub mod attach;
pub mod check;
pub mod console;
pub mod create;
pub mod delete;
pub mod diff;
pub mod exec;
pub mod export;
pub mod import;
pub mod kill;
pub mod list;
pub mod logs;
pub mod plan;
pub mod run;
pub mod start;
pub mod state;
pub mod stats;
pub mod stop;
pub mod top;

use std::path::Path;
use std::process::ExitCode;

use stockade_core::state::StateStore;
use stockade_core::Spec;

use crate::cli::{Cli, Command, Lifecycle};
use crate::host;

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let store = StateStore::new(
        cli.root
            .clone()
            .unwrap_or_else(|| host::default_state_root(host::HOST_OS)),
    );
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Plan(args) => plan::run(&args, cli.root.as_deref()),
        Command::Import(args) => import::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Diff(args) => diff::run(&args, &store),
        Command::Portability => {
            print!("{}", stockade_core::portability::markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Lifecycle(command) => host::lifecycle(command, &store),
    }
}

/// Runs a lifecycle command (run, create, start, ...) with a runtime.
pub fn lifecycle<R: stockade_core::backend::Runtime>(
    rt: &R,
    command: Lifecycle,
    store: &StateStore,
) -> anyhow::Result<ExitCode> {
    match command {
        Lifecycle::Run(args) => run::run(rt, store, &args),
        Lifecycle::Create(args) => create::run(rt, store, &args),
        Lifecycle::Start(args) => start::run(rt, store, &args),
        Lifecycle::Exec(args) => exec::run(rt, store, &args),
        Lifecycle::List(args) => list::run(rt, store, &args),
        Lifecycle::State(args) => state::run(rt, store, &args),
        Lifecycle::Stats(args) => stats::run(rt, store, &args),
        Lifecycle::Stop(args) => stop::run(rt, store, &args),
        Lifecycle::Kill(args) => kill::run(rt, store, &args),
        Lifecycle::Delete(args) => delete::run(rt, store, &args),
        Lifecycle::Logs(args) => logs::run(rt, store, &args),
        Lifecycle::Attach(args) => attach::run(rt, store, &args),
        Lifecycle::Console(args) => console::run(rt, store, &args),
        Lifecycle::Top(args) => top::run(rt, store, &args),
    }
}

/// Loads a spec, applying `--name` and a command given after `--`.
pub fn load_spec(file: &Path, name: Option<&str>, command: &[String]) -> anyhow::Result<Spec> {
    if let Some(name) = name {
        stockade_core::spec::check_name(name).map_err(|why| anyhow::anyhow!("--name: {why}"))?;
    }
    let mut spec = Spec::load_as(file, name)?;
    if !command.is_empty() {
        spec.process.command = command.to_vec();
    }
    Ok(spec)
}
