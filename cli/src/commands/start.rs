//! `stockade start NAME`: let a created environment's process run its command.

use std::process::ExitCode;

use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;

/// Arguments of `start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
}

/// Runs `start`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    rt.start(store, &args.name)?;
    Ok(ExitCode::SUCCESS)
}
