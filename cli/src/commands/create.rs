//! `stockade create [--name N] FILE`: make the environment; its process waits for `start`.

use std::path::PathBuf;
use std::process::ExitCode;

use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::state::StateStore;

use super::load_spec;

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
pub struct Args {
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
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: false,
    };
    let state = rt.create(&spec, store, &opts)?;
    println!("{}", state.name);
    Ok(ExitCode::SUCCESS)
}
