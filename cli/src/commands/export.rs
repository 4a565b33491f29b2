//! `stockade export FILE --format jail.conf|oci [--out PATH]`.
//!
//! jail.conf: a jail block plus the rctl.conf lines equivalent to the spec. oci: an OCI
//! runtime bundle's `config.json` (Linux section), for runc, crun or youki. With `--out`
//! the bundle is ready to run: for `root.host`, its `rootfs/` folder and the links the
//! host view needs at its top are made too.

use std::fs;
use std::path::{Path, PathBuf};
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
    let mut links = Vec::new();
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
                        notes.push(host_view_note(&e.host_links));
                    }
                    let text = e.to_json()?;
                    links = e.host_links;
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
                make_host_view(bundle, &links)?;
            }
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What a `root.host` bundle printed to stdout still needs.
fn host_view_note(links: &[(PathBuf, PathBuf)]) -> String {
    let links: Vec<String> = links
        .iter()
        .map(|(p, to)| format!("{} -> {}", p.display(), to.display()))
        .collect();
    format!(
        "root.host: create the bundle's {}/ folder and the links the view needs ({}) \
         (`--out DIR` does both)",
        stockade_linux::oci::HOST_VIEW_ROOTFS,
        links.join(", ")
    )
}

/// `root.host`: the bundle's `rootfs/` and the links at its top, so the bundle runs as
/// it is. A link already there that points where it should is kept (a second export).
fn make_host_view(bundle: &Path, links: &[(PathBuf, PathBuf)]) -> anyhow::Result<()> {
    let rootfs = bundle.join(stockade_linux::oci::HOST_VIEW_ROOTFS);
    fs::create_dir_all(&rootfs).with_context(|| format!("cannot create {}", rootfs.display()))?;
    for (path, to) in links {
        let link = rootfs.join(path);
        if fs::read_link(&link).is_ok_and(|t| t == *to) {
            continue;
        }
        std::os::unix::fs::symlink(to, &link)
            .with_context(|| format!("cannot link {} -> {}", link.display(), to.display()))?;
    }
    Ok(())
}

/// The spec is valid but the format cannot express it: exit 1, like `check`.
fn unsupported(name: &str, e: &dyn std::error::Error) -> anyhow::Result<ExitCode> {
    eprintln!("stockade: cannot export {name}: {e}");
    Ok(ExitCode::from(1))
}
