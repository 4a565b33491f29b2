//! `stockade commit NAME --name NEW:TAG`: a `root.image` environment's changes (what
//! `stockade diff` lists) as a new layer on its image, stored as image NEW:TAG.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use stockade_core::state::StateStore;
use stockade_image::commit::Change;
use stockade_image::Store;

/// Arguments of `commit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub env: String,
    /// The new image's name.
    #[arg(long, value_name = "NAME:TAG")]
    pub name: String,
}

/// Runs `commit`.
pub fn run(args: &Args, store: &Path, states: &StateStore) -> anyhow::Result<ExitCode> {
    let state = states
        .peek(&args.env)
        .with_context(|| format!("cannot commit {}", args.env))?;
    let Some(base) = state.spec["root"]["source"]["image"]["id"].as_str() else {
        bail!(
            "cannot commit {}: its root is not an image (root.image); `stockade diff {}` \
             lists its changes",
            args.env,
            args.env
        );
    };
    let (upper, changes) = changes(states, &args.env)?;
    let id = Store::new(store)
        .commit(
            base,
            &upper,
            &changes,
            &args.name,
            &format!("environment {}", args.env),
        )
        .with_context(|| format!("cannot commit {}", args.env))?;
    println!(
        "{} {id}",
        stockade_image::store::normalize_name(&args.name)?
    );
    Ok(ExitCode::SUCCESS)
}

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        fn changes(states: &StateStore, name: &str) -> anyhow::Result<(std::path::PathBuf, Vec<Change>)> {
            use stockade_linux::diff::{ChangeKind, LayerInfo};
            let info = LayerInfo::read(&states.dir(name), name)?;
            let list = stockade_linux::apply::layer::changes(states, name)?;
            let changes = list
                .into_iter()
                .map(|c| match c.kind {
                    ChangeKind::Added => Change::Add(c.path),
                    ChangeKind::Modified => Change::Modify(c.path),
                    ChangeKind::Deleted => Change::Delete(c.path),
                })
                .collect();
            Ok((info.upper, changes))
        }
    } else {
        fn changes(states: &StateStore, name: &str) -> anyhow::Result<(std::path::PathBuf, Vec<Change>)> {
            states.peek(name)?;
            bail!(
                "stockade commit reads overlayfs layers (Linux); on FreeBSD a unionfs layer \
                 hides its deletions from the directory reader (see `stockade diff`)"
            )
        }
    }
}
