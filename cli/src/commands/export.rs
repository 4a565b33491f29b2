//! `stockade export FILE --format jail.conf|oci [--out PATH]`.
//!
//! jail.conf: a jail block plus the rctl.conf lines equivalent to the spec. oci: an OCI
//! runtime bundle's `config.json` (Linux section), for runc, crun or youki. With `--out`
//! the bundle is ready to run: for `root.host`, its empty `rootfs/` folder is made too.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use stockade_core::spec::RootSource;

use super::load_spec;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A jail.conf(5) block, with rctl.conf(5) lines.
    #[value(name = "jail.conf")]
    JailConf,
    /// An OCI runtime-spec config.json.
    Oci,
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Override the spec's name (as `run --name` does): the OCI export's host name
    /// default, cgroup path and annotation follow it.
    #[arg(long)]
    pub name: Option<String>,
    /// What to produce.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write here instead of stdout (for oci: a bundle folder, config.json inside).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// Runs `export`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let spec = load_spec(&args.file, args.name.as_deref(), &[])?;
    let (text, notes, target) = match args.format {
        Format::JailConf => match stockade_freebsd::migrate::export_jail_conf(&spec) {
            Ok(e) => (
                e.text(),
                e.notes.iter().map(ToString::to_string).collect(),
                args.out.clone(),
            ),
            Err(e) => return unsupported(&spec.name, &e),
        },
        Format::Oci => {
            let options = stockade_linux::LinuxPlanOptions::detect().unwrap_or_default();
            match stockade_linux::oci::export(&spec, &options) {
                Ok(e) => {
                    let mut notes = e.notes.clone();
                    if matches!(spec.root.source, RootSource::Host) && args.out.is_none() {
                        notes.push(format!(
                            "root.host: create the bundle's empty {}/ folder (`--out DIR` does)",
                            stockade_linux::oci::HOST_VIEW_ROOTFS
                        ));
                    }
                    let text = e.to_json()?;
                    (
                        text,
                        notes,
                        args.out.as_ref().map(|dir| dir.join("config.json")),
                    )
                }
                Err(e) => return unsupported(&spec.name, &e),
            }
        }
    };
    for note in notes {
        eprintln!("note: {note}");
    }
    match target {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
            if let (Some(bundle), RootSource::Host) = (&args.out, &spec.root.source) {
                let rootfs = bundle.join(stockade_linux::oci::HOST_VIEW_ROOTFS);
                fs::create_dir_all(&rootfs)
                    .with_context(|| format!("cannot create {}", rootfs.display()))?;
            }
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The spec is valid but the format cannot express it: exit 1, like `check`.
fn unsupported(name: &str, e: &dyn std::error::Error) -> anyhow::Result<ExitCode> {
    eprintln!("stockade: cannot export {name}: {e}");
    Ok(ExitCode::from(1))
}
