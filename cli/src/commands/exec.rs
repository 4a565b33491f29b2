//! `stockade exec [-t] [-i] NAME -- CMD...`: run a command inside a running environment.

use std::process::ExitCode;

use stockade_core::backend::{Foreground, Runtime};
use stockade_core::state::StateStore;

use super::run::exit_byte;

/// Arguments of `exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Give the command a terminal (a pty opened inside the environment) and relay the
    /// caller's terminal to it in raw mode.
    #[arg(short, long)]
    pub tty: bool,
    /// Keep stdin connected (it always is: exec runs in the foreground).
    #[arg(short, long)]
    pub interactive: bool,
    /// The environment.
    pub name: String,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `exec`; exits with the command's status.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let exit = rt.exec_with(
        store,
        &args.name,
        &args.command,
        Foreground { terminal: args.tty },
    )?;
    Ok(ExitCode::from(exit_byte(exit.code)))
}
