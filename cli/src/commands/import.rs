//! `stockade import FILE [--jail NAME] [--rctl RCTL_CONF] [--out DIR] [--json]`.
//!
//! Turns the jails of a jail.conf(5) into spec files. What has no spec form is listed on
//! stderr (and kept as comments in each file), never dropped. A malformed input is exit
//! status 2 with `FILE:LINE:COL: what is wrong`, and nothing is written.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use stockade_freebsd::migrate::{self, ImportError};

use crate::exit::InvalidInput;

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The jail.conf file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Import only this jail.
    #[arg(long, value_name = "NAME")]
    pub jail: Option<String>,
    /// An rctl.conf whose rules for the jails become [limits].
    #[arg(long, value_name = "RCTL_CONF")]
    pub rctl: Option<PathBuf>,
    /// Write NAME.toml files into this folder instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the specs and reports as JSON.
    #[arg(long)]
    pub json: bool,
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path)
        .map_err(|e| InvalidInput(format!("{}: cannot read: {e}", path.display())).into())
}

/// Runs `import`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let text = read(&args.file)?;
    let rctl = args.rctl.as_deref().map(read).transpose()?;
    let rctl = rctl.as_deref().zip(args.rctl.as_deref());
    let imported = match migrate::import(&text, &args.file, args.jail.as_deref(), rctl) {
        Ok(i) => i,
        Err(e @ ImportError::Generated { .. }) => return Err(e.into()),
        Err(e) => return Err(InvalidInput(e.to_string()).into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&imported)?);
    }
    for jail in &imported {
        for item in &jail.report {
            eprintln!("{item}");
        }
    }
    match &args.out {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            // Refuse before writing anything, so a clash leaves the folder as it was.
            for jail in &imported {
                let path = dir.join(format!("{}.toml", jail.name));
                if path.exists() {
                    return Err(InvalidInput(format!(
                        "{}: exists; remove it or choose another --out",
                        path.display()
                    ))
                    .into());
                }
            }
            for jail in &imported {
                let path = dir.join(format!("{}.toml", jail.name));
                fs::write(&path, &jail.toml)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {} (jail {})", path.display(), jail.jail);
            }
        }
        None if !args.json => {
            for (i, jail) in imported.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("# ---- {}.toml (jail {}) ----", jail.name, jail.jail);
                print!("{}", jail.toml);
            }
        }
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
