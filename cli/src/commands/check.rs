//! `stockade check FILE... [--target linux|freebsd|linux-rootless|all] [--json]`.
//!
//! Validates each file, then lists the features it uses with their support level on each
//! target. Exit 0 when every file is valid and usable everywhere asked, 1 when a feature is
//! unsupported on a target, 2 when a file is invalid.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use stockade_core::portability::{self, Support, Target, TargetReport};
use stockade_core::spec::{Diagnostic, SpecError};
use stockade_core::Spec;

use crate::exit;

/// Which OS to check against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    /// Linux, with cgroup v2 and with cgroup v1.
    Linux,
    /// FreeBSD.
    Freebsd,
    /// Linux without root (user namespace; cgroups only where delegated).
    LinuxRootless,
    /// Every target that runs as root (linux with both cgroup versions, freebsd).
    All,
}

impl TargetArg {
    fn targets(self) -> &'static [Target] {
        match self {
            TargetArg::Linux => &[Target::LinuxCgroupV2, Target::LinuxCgroupV1],
            TargetArg::Freebsd => &[Target::Freebsd],
            TargetArg::LinuxRootless => &[Target::LinuxRootless],
            TargetArg::All => &Target::ALL,
        }
    }
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Spec files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Target OS.
    #[arg(long, value_enum, default_value = "all")]
    pub target: TargetArg,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct FileReport {
    file: PathBuf,
    valid: bool,
    errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    diagnostics: Vec<Diagnostic>,
    targets: Vec<TargetReport>,
}

/// Runs `check`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let reports: Vec<FileReport> = args
        .files
        .iter()
        .map(|file| check_file(file, args.target.targets()))
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            print_report(r);
        }
    }
    let code = if reports.iter().any(|r| !r.valid) {
        exit::INVALID
    } else if reports
        .iter()
        .flat_map(|r| &r.targets)
        .any(|t| !t.is_usable())
    {
        1
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

fn check_file(file: &std::path::Path, targets: &[Target]) -> FileReport {
    match Spec::load(file) {
        Ok(spec) => FileReport {
            file: file.to_path_buf(),
            valid: true,
            errors: Vec::new(),
            diagnostics: Vec::new(),
            targets: portability::check(&spec, targets),
        },
        Err(err) => FileReport {
            file: file.to_path_buf(),
            valid: false,
            errors: match &err {
                SpecError::Invalid(d) => d.iter().map(ToString::to_string).collect(),
                SpecError::Read { .. } => vec![err.to_string()],
            },
            diagnostics: err.diagnostics().to_vec(),
            targets: Vec::new(),
        },
    }
}

fn print_report(r: &FileReport) {
    if !r.valid {
        for e in &r.errors {
            eprintln!("{e}");
        }
        println!(
            "{}: invalid ({} error(s))",
            r.file.display(),
            r.errors.len()
        );
        return;
    }
    println!("{}: valid", r.file.display());
    for t in &r.targets {
        let count = |level: &str| {
            t.findings
                .iter()
                .filter(|f| f.support.level() == level)
                .count()
        };
        let verdict = match (count("unsupported"), count("approximate")) {
            (0, 0) => "ok: every feature exact".to_string(),
            (0, a) => format!("ok: {a} approximate"),
            (u, _) => format!("NOT USABLE: {u} unsupported"),
        };
        println!("  {}: {verdict}", t.target);
        for f in &t.findings {
            let label = f.used.feature.label();
            match f.support {
                Support::Exact => println!("    exact        {label:<28} {}", f.how),
                Support::Approximate(why) => {
                    println!("    approximate  {label:<28} {}: {why}", f.how)
                }
                Support::Unsupported(why) => {
                    println!("    UNSUPPORTED  {label:<28} {}: {why}", f.used.key)
                }
            }
        }
    }
}
