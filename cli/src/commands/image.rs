//! `stockade image import|list|inspect|rm|prune|export`: the local image store
//! (`--store`, default /var/lib/stockade). The store itself is `stockade_image`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use stockade_core::state::StateStore;
use stockade_image::import::Progress;
use stockade_image::{Digest, Store};

/// Arguments of `image`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// The `image` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Import an OCI layout folder, an OCI archive or a `docker save` archive.
    Import {
        /// The folder or archive.
        #[arg(value_name = "FILE|DIR")]
        input: PathBuf,
        /// Name the image NAME:TAG (else the name the input carries).
        #[arg(long, value_name = "NAME:TAG")]
        name: Option<String>,
        /// DIR is a root file system folder (as `root.path` takes): pack it as a
        /// one-layer image with no process defaults, as `podman import` does a tar.
        #[arg(long, requires = "name")]
        rootfs: bool,
    },
    /// List the images.
    #[command(alias = "ls")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an image's record, config and manifest as JSON.
    Inspect {
        /// NAME:TAG or id (prefix).
        image: String,
    },
    /// Remove a name; the image goes with its last name (refused while in use).
    Rm {
        /// NAME:TAG or id (prefix); an id removes every name of the image.
        image: String,
    },
    /// Remove unnamed unused images and every blob and layer no image needs.
    Prune,
    /// Write an image as an OCI archive (`podman load -i FILE` reads it).
    Export {
        /// NAME:TAG or id (prefix).
        image: String,
        /// The archive to write.
        file: PathBuf,
    },
}

/// The environments (in this state root) whose root is image `id`.
pub fn users(states: &StateStore) -> impl Fn(&Digest) -> Vec<String> + '_ {
    move |id: &Digest| {
        let id = id.to_string();
        states
            .names()
            .unwrap_or_default()
            .into_iter()
            .filter(|name| {
                states.peek(name).is_ok_and(|s| {
                    s.spec["root"]["source"]["image"]["id"].as_str() == Some(id.as_str())
                })
            })
            .collect()
    }
}

/// Runs `image`.
pub fn run(args: &Args, store: &Path, states: &StateStore) -> anyhow::Result<ExitCode> {
    let store = Store::new(store);
    match &args.command {
        ImageCommand::Import {
            input,
            name: Some(name),
            rootfs: true,
        } => {
            let id = store
                .import_rootfs(input, name)
                .with_context(|| format!("cannot import {}", input.display()))?;
            println!("{} {id}", stockade_image::store::normalize_name(name)?);
        }
        ImageCommand::Import { input, name, .. } => {
            let mut progress = |p: Progress| match p {
                Progress::Blob { what, size } if size > 0 => {
                    eprintln!("copying {what} ({})", human(size));
                }
                Progress::Blob { what, .. } => eprintln!("copying {what}"),
                Progress::Unpack {
                    index,
                    count,
                    diff_id,
                } => eprintln!("unpacking layer {index}/{count} {diff_id}"),
                Progress::Shared { diff_id } => eprintln!("layer {diff_id} already in the store"),
            };
            let imported = store
                .import(input, name.as_deref(), &mut progress)
                .with_context(|| format!("cannot import {}", input.display()))?;
            for i in imported {
                for n in &i.notes {
                    eprintln!("note: {n}");
                }
                match &i.name {
                    Some(n) => println!("{n} {}", i.id),
                    None => println!(
                        "{} (no name in the input: `stockade image import --name NAME:TAG` names it)",
                        i.id
                    ),
                }
            }
        }
        ImageCommand::List { json } => {
            let list = store.list()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<40} {:<14} {:>6} {:>10}", "NAME", "ID", "LAYERS", "SIZE");
                for i in &list {
                    let id = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
                    let names = if i.names.is_empty() {
                        vec!["<none>".to_string()]
                    } else {
                        i.names.clone()
                    };
                    for n in names {
                        println!(
                            "{n:<40} {:<14} {:>6} {:>10}",
                            &id[..12],
                            i.layers,
                            human(i.size)
                        );
                    }
                }
            }
        }
        ImageCommand::Inspect { image } => {
            let r = store.find(image)?;
            let out = serde_json::json!({
                "record": r,
                "manifest": store.manifest(&r)?,
                "config": store.config(&r)?,
                "layer_dirs": r.layers.iter().map(|l| store.layer_dir(&l.diff_id)).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ImageCommand::Rm { image } => {
            for line in store.remove(image, &users(states))? {
                println!("{line}");
            }
        }
        ImageCommand::Prune => {
            let freed = store.prune(&users(states))?;
            println!("freed {}", human(freed));
        }
        ImageCommand::Export { image, file } => {
            let id = store
                .export(image, file)
                .with_context(|| format!("cannot export {image}"))?;
            println!("{id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes in the largest whole unit.
fn human(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
