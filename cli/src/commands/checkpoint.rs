//! `stockade checkpoint NAME --out DIR [--leave-running]`: save a running environment
//! (its processes, memory, mounts and cgroup limits) to a folder with CRIU. Linux only:
//! FreeBSD has no checkpointing facility, and says so.

use std::path::PathBuf;
use std::process::ExitCode;

use stockade_core::state::StateStore;

/// Arguments of `checkpoint`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The running environment.
    pub name: String,
    /// The folder to write (new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Keep the environment running after the dump (default: it stops and is deleted).
    #[arg(long)]
    pub leave_running: bool,
}

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        /// Runs `checkpoint`.
        pub fn run(args: &Args, store: &StateStore) -> anyhow::Result<ExitCode> {
            use anyhow::Context as _;
            stockade_linux::apply::checkpoint::checkpoint_named(
                &crate::host::linux_backend(),
                store,
                &args.name,
                &args.out,
                args.leave_running,
            )
            .with_context(|| format!("cannot checkpoint {}", args.name))?;
            Ok(ExitCode::SUCCESS)
        }
    } else {
        /// Runs `checkpoint`: unsupported here.
        pub fn run(args: &Args, _store: &StateStore) -> anyhow::Result<ExitCode> {
            anyhow::bail!("cannot checkpoint {}: {}", args.name, super::restore::UNSUPPORTED)
        }
    }
}
