//! `stockade delete NAME [--force]`: remove an environment and everything made for it.

use std::process::ExitCode;

use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;

/// Arguments of `delete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
    /// Kill it first if it runs, and undo a create that crashed part-way.
    #[arg(short, long)]
    pub force: bool,
}

/// Runs `delete`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let what = format!("deleting {}", args.name);
    crate::progress::while_running(&what, || rt.delete(store, &args.name, args.force))?;
    Ok(ExitCode::SUCCESS)
}
