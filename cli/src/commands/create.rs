//! `stockade create [--name N] FILE`: make the environment; its process waits for `start`.

use std::path::PathBuf;
use std::process::ExitCode;

use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::state::StateStore;

use super::load_spec;

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Give the process a terminal (`stockade attach` reaches it once started).
    #[arg(short, long)]
    pub tty: bool,
    /// Override the spec's name.
    #[arg(long)]
    pub name: Option<String>,
    /// The spec file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs `create`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let spec = load_spec(&args.file, args.name.as_deref(), &[])?;
    // The output goes to the environment's log, never to our stdout: a caller capturing
    // it (`x=$(stockade create ...)`) gets the name and its end-of-file at once.
    let opts = CreateOptions {
        stdio: if args.tty || spec.process.terminal {
            Stdio::LogTerminal
        } else {
            Stdio::Log
        },
        start: false,
    };
    let what = format!("creating {}", spec.name);
    let made = crate::progress::while_running(&what, || rt.create_made(&spec, store, &opts))?;
    println!("{}", made.state.name);
    Ok(ExitCode::SUCCESS)
}
