//! `stockade exec NAME -- CMD...`: run a command inside a running environment.

use std::process::ExitCode;

use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;

use super::run::exit_byte;

/// Arguments of `exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `exec`; exits with the command's status.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let exit = rt.exec(store, &args.name, &args.command)?;
    Ok(ExitCode::from(exit_byte(exit.code)))
}
