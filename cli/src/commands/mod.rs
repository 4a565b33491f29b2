//! One module per subcommand: its clap `Args` and its handler.

pub mod attach;
pub mod check;
pub mod checkpoint;
pub mod commit;
pub mod console;
pub mod create;
pub mod delete;
pub mod diff;
pub mod exec;
pub mod export;
pub mod generate;
pub mod image;
pub mod import;
pub mod kill;
pub mod list;
pub mod logs;
pub mod plan;
pub mod restore;
pub mod run;
pub mod start;
pub mod state;
pub mod stats;
pub mod stop;
pub mod top;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context as _;
use std::process::ExitCode;

use stockade_core::state::StateStore;
use stockade_core::Spec;

use crate::cli::{Cli, Command, Lifecycle};
use crate::host;

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    IMAGE_STORE.get_or_init(|| image_store(&cli.store));
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
        Command::Checkpoint(args) => checkpoint::run(&args, &store),
        Command::Restore(args) => restore::run(&args, &store),
        Command::Image(args) => image::run(&args, &image_store(&cli.store), &store),
        Command::Commit(args) => commit::run(&args, &image_store(&cli.store), &store),
        Command::Portability => {
            print!("{}", stockade_core::portability::markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(args) => generate::completions(&args),
        Command::Man(args) => generate::man(&args),
        Command::Schema => generate::schema(),
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

/// The image store: `--store` (made absolute: its layer folders become overlayfs
/// lowers, mounted from another working folder), or the default.
fn image_store(flag: &Option<PathBuf>) -> PathBuf {
    match flag {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => PathBuf::from(stockade_image::DEFAULT_STORE),
    }
}

/// The image store `load_spec` resolves `root.image` in (set once by `dispatch`).
static IMAGE_STORE: OnceLock<PathBuf> = OnceLock::new();

/// Loads a spec, applying `--name` and a command given after `--`, and resolves
/// `root.image` in the image store.
pub fn load_spec(file: &Path, name: Option<&str>, command: &[String]) -> anyhow::Result<Spec> {
    if let Some(name) = name {
        stockade_core::spec::check_name(name).map_err(|why| anyhow::anyhow!("--name: {why}"))?;
    }
    let mut spec = Spec::load_as(file, name)?;
    if !command.is_empty() {
        spec.process.command = command.to_vec();
        spec.process.given.command = true;
    }
    let store = IMAGE_STORE.get_or_init(|| PathBuf::from(stockade_image::DEFAULT_STORE));
    stockade_image::resolve::resolve_spec(&mut spec, &stockade_image::Store::new(store))
        .with_context(|| format!("{}", file.display()))?;
    Ok(spec)
}
