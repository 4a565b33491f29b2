//! `stockade kill NAME [SIGNAL]`: signal the environment's first process.

use std::process::ExitCode;

use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;

/// Arguments of `kill`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
    /// A signal name (TERM, SIGTERM) or number.
    #[arg(default_value = "TERM")]
    pub signal: String,
}

/// Runs `kill`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    rt.signal(store, &args.name, &args.signal)?;
    Ok(ExitCode::SUCCESS)
}
