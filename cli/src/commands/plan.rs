//! `stockade plan FILE [--target linux|freebsd] [--cgroup v1|v2] [--json]`.
//!
//! Prints the ordered kernel operations a spec becomes on one OS. Both planners are pure
//! and built on every OS, so a Linux host can show the FreeBSD plan and the reverse.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use stockade_core::backend::{Backend, CgroupVersion, PlanContext};
use stockade_core::Spec;

use crate::host;

/// An OS to plan for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Os {
    /// Linux: namespaces, cgroups, capabilities, seccomp.
    Linux,
    /// FreeBSD: jail, rctl, nmount, vnet.
    Freebsd,
}

/// A cgroup hierarchy to plan for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CgroupArg {
    /// cgroup v1 controllers (also hybrid hosts).
    V1,
    /// The unified cgroup v2 hierarchy.
    V2,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The OS to plan for [default: this host's].
    #[arg(long, value_enum)]
    pub target: Option<Os>,
    /// The cgroup hierarchy (Linux) [default: this host's, or v2 elsewhere].
    #[arg(long, value_enum)]
    pub cgroup: Option<CgroupArg>,
    /// Override the spec's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `plan`.
pub fn run(args: &Args, state_root: Option<&Path>) -> anyhow::Result<ExitCode> {
    let spec = crate::commands::load_spec(&args.file, args.name.as_deref(), &[])?;
    let os = args
        .target
        .or(host::HOST_OS)
        .context("this OS has no stockade backend: pass --target linux or --target freebsd")?;
    let cgroup = match args.cgroup {
        Some(CgroupArg::V1) => CgroupVersion::V1,
        Some(CgroupArg::V2) => CgroupVersion::V2,
        None => host_cgroup(os).unwrap_or(CgroupVersion::V2),
    };
    let state_root =
        state_root.map_or_else(|| host::default_state_root(Some(os)), Path::to_path_buf);
    let ctx = PlanContext::new(state_root, &spec.name, cgroup);
    match os {
        Os::Linux => print_plan(&host::linux_backend(), &spec, &ctx, args.json),
        Os::Freebsd => print_plan(&stockade_freebsd::FreebsdBackend, &spec, &ctx, args.json),
    }
}

/// The host's cgroup version, when planning for the host's own OS.
fn host_cgroup(os: Os) -> Option<CgroupVersion> {
    if host::HOST_OS != Some(os) || os != Os::Linux {
        return None;
    }
    host::host_cgroup()
}

fn print_plan<B: Backend>(
    backend: &B,
    spec: &Spec,
    ctx: &PlanContext,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let plan = match backend.plan(spec, ctx) {
        Ok(plan) => plan,
        // The spec is valid but asks for something this OS cannot do: like `check`, exit 1.
        Err(e) => {
            eprintln!("stockade: cannot plan {}: {e}", spec.name);
            return Ok(ExitCode::from(1));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{plan}");
    }
    Ok(ExitCode::SUCCESS)
}
