//! `stockade restore DIR [--name NAME]`: bring a checkpoint back as a running environment
//! (CRIU). Linux only, like `checkpoint`.

use std::path::PathBuf;
use std::process::ExitCode;

use stockade_core::state::StateStore;

/// What both commands say off Linux (the portability table's reason).
#[allow(dead_code)]
pub const UNSUPPORTED: &str = "checkpoint/restore is unsupported on FreeBSD: it has no \
    facility to save and restore a running process tree (CRIU is Linux-only)";

/// Arguments of `restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder written by `stockade checkpoint`.
    pub dir: PathBuf,
    /// Restore under this name instead of the checkpointed one.
    #[arg(long)]
    pub name: Option<String>,
}

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        /// Runs `restore`: prints the restored environment's name and first PID.
        pub fn run(args: &Args, store: &StateStore) -> anyhow::Result<ExitCode> {
            use anyhow::Context as _;
            let state = stockade_linux::apply::checkpoint::restore_dir(
                &crate::host::linux_backend(),
                store,
                &args.dir,
                args.name.as_deref(),
            )
            .with_context(|| format!("cannot restore {}", args.dir.display()))?;
            println!("{} {}", state.name, state.pid.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    } else {
        /// Runs `restore`: unsupported here.
        pub fn run(args: &Args, _store: &StateStore) -> anyhow::Result<ExitCode> {
            anyhow::bail!("cannot restore {}: {UNSUPPORTED}", args.dir.display())
        }
    }
}
