//! `stockade diff NAME [--json]`: what a copy-on-write environment (`root.overlay = true`)
//! changed relative to its base: added, modified and deleted paths, relative to `/`.
//!
//! The walk of the writable layer lives in `stockade_linux::diff`; this file picks the
//! host's reader and prints.

use std::process::ExitCode;

use anyhow::Context as _;
use stockade_core::state::StateStore;
use stockade_linux::diff::{Change, DiffError};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
    /// Print a JSON array of {"path", "kind"} (kind: added, modified, deleted).
    #[arg(long)]
    pub json: bool,
}

/// Runs `diff`: one `A|M|D PATH` line per change, sorted by path.
pub fn run(args: &Args, store: &StateStore) -> anyhow::Result<ExitCode> {
    let changes =
        changes(store, &args.name).with_context(|| format!("cannot diff {}", args.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&changes)?);
    } else {
        for change in &changes {
            println!("{change}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        fn changes(store: &StateStore, name: &str) -> Result<Vec<Change>, DiffError> {
            stockade_linux::apply::layer::changes(store, name)
        }
    } else {
        /// FreeBSD keeps deletions in a unionfs layer as whiteout directory entries,
        /// which the directory reader used here hides, and a ZFS clone as blocks.
        fn changes(store: &StateStore, name: &str) -> Result<Vec<Change>, DiffError> {
            store.peek(name)?;
            Err(DiffError::Unsupported(format!(
                "stockade diff reads overlayfs layers (Linux); on FreeBSD {name:?}'s \
                 changes are in its unionfs layer folder (`ls -RW` shows deletions as \
                 whiteouts) or, for a ZFS clone, in `zfs diff` of its snapshot"
            )))
        }
    }
}
