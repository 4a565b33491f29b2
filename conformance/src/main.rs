//! stockade-conformance: one black-box suite that shows `stockade` behaves the same on
//! every host it supports (Linux with cgroup v1 or v2, FreeBSD), and says where and why
//! it cannot.
//!
//! It drives the real `stockade` binary (never backend code), places a probe inside each
//! environment, and compares what the probe reports with the case's expectations. Which
//! cases apply on this host comes from the portability table in `stockade-core`: a feature
//! the table marks unsupported here makes its cases `skip: unsupported on ...`; a feature
//! this host lacks (a cgroup controller, racct, VIMAGE, root) makes them
//! `skip: host lacks ...`. Nothing else skips.
//!
//! Output: one line per case (`ok NAME`, `not ok NAME: expected ... observed ...`,
//! `skip NAME: reason`), then `N passed, N failed, N skipped`; `--json` prints the whole
//! report instead. Exit status 1 when a case failed. See docs/conformance.md.
#![deny(unsafe_code)]

mod case;
mod cases;
mod exec;
mod filter;
mod host;
mod leaks;
mod oci;
mod rootfs;
mod runner;
mod sys;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use serde_json::json;

use crate::host::Host;
use crate::runner::{Suite, Verdict};

/// Runs the stockade conformance suite against a stockade binary on this host.
#[derive(Debug, Parser)]
#[command(name = "stockade-conformance", version, about)]
struct Args {
    /// Run only cases whose name contains PATTERN, or matches it as a glob (`*`, `?`).
    /// Repeatable: a case runs when any pattern matches.
    #[arg(long, value_name = "PATTERN")]
    filter: Vec<String>,
    /// Print the whole report as JSON (progress goes to stderr).
    #[arg(long)]
    json: bool,
    /// The stockade binary [default: `stockade` next to this program, else on PATH].
    #[arg(long, value_name = "PATH")]
    stockade: Option<PathBuf>,
    /// The probe [default: `stockade-probe` next to this program, else on PATH].
    #[arg(long, value_name = "PATH")]
    probe: Option<PathBuf>,
    /// Work folder for specs, roots, state and logs [default: a fresh temporary folder,
    /// removed afterwards].
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Keep the temporary work folder (specs, logs) and print where it is.
    #[arg(long)]
    keep: bool,
    /// Seconds one stockade command may take before it counts as hung.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// List the cases (name, features, summary) and exit.
    #[arg(long)]
    list: bool,
    /// Which command line runs the environments: `stockade run`/`create`/... or, with
    /// `oci`, `stockade export --format oci` and then `stockade oci run`/`create`/...
    /// from the bundle (cases config.json cannot express are skipped, with the reason).
    #[arg(long, value_enum, default_value_t = oci::Via::Stockade)]
    via: oci::Via,
}

/// `name` next to this program, else on PATH.
fn locate(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    })
}

fn binary(given: Option<PathBuf>, name: &str, flag: &str) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => locate(name).with_context(|| {
            format!(
                "cannot find `{name}` next to this program or on PATH: build it \
                 (`cargo build -p stockade -p stockade-conformance`) or pass {flag} PATH"
            )
        })?,
    };
    if !path.is_file() {
        bail!("{flag} {}: no such file", path.display());
    }
    // Absolute: the suite runs commands from other folders.
    std::fs::canonicalize(&path).with_context(|| format!("{}", path.display()))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stockade-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let selected: Vec<case::Case> = cases::all()
        .into_iter()
        .filter(|c| {
            args.filter.is_empty() || args.filter.iter().any(|p| filter::matches(p, c.name))
        })
        .collect();
    if args.list {
        for c in &selected {
            let features: Vec<String> = c.features.iter().map(|f| f.label()).collect();
            println!("{:<48} [{}] {}", c.name, features.join(", "), c.summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if selected.is_empty() {
        bail!("no case matches {:?} (--list shows the cases)", args.filter);
    }

    let host = Host::detect()?;
    if args.via == oci::Via::Oci && host.target == stockade_core::portability::Target::Freebsd {
        // The export writes Linux's config.json (namespaces, cgroups, seccomp), which the
        // FreeBSD runtime refuses key by key: every case would fail for that one reason.
        bail!(
            "--via oci runs on Linux: `stockade export --format oci` writes a Linux \
             config.json, which stockade's FreeBSD OCI runtime refuses (docs/oci.md)"
        );
    }
    let stockade = binary(args.stockade, "stockade", "--stockade")?;
    let probe = binary(args.probe, rootfs::PROBE_NAME, "--probe")?;

    let mut temp: Option<tempfile::TempDir> = None;
    let workdir = match &args.workdir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            std::fs::canonicalize(dir)?
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("stockade-conformance.")
                .tempdir()
                .context("cannot make a temporary folder")?;
            let path = std::fs::canonicalize(t.path())?;
            temp = Some(t);
            path
        }
    };
    let probe_dir = workdir.join("probe");
    rootfs::fill_probe_dir(&probe_dir, &probe)?;
    let probe_libs = rootfs::runtime_files(&probe)?;
    let state_root = workdir.join("state");
    std::fs::create_dir_all(&state_root)?;

    let host_run = exec::run(
        &probe,
        &[],
        &workdir.join("host-probe"),
        Duration::from_secs(30),
    )?;
    let host_probe = exec::parse_json(&host_run.stdout);
    if host_run.exit != Some(0) || !host_probe.is_object() {
        bail!(
            "the probe does not run on the host ({}): exit {:?}: {}",
            probe.display(),
            host_run.exit,
            host_run.stderr_line()
        );
    }
    let oci = match args.via {
        oci::Via::Stockade => None,
        oci::Via::Oci => Some(
            oci::OciPath::new(workdir.join("oci-state"))
                .context("cannot become the subreaper of the containers' processes")?,
        ),
    };
    let port = Suite::listen().context("cannot listen on a TCP port for the network cases")?;
    let host_ip = Suite::first_ipv4(&host_probe);
    let suite = Suite {
        host,
        stockade,
        probe,
        workdir: workdir.clone(),
        state_root,
        probe_dir,
        probe_libs,
        host_probe,
        port,
        host_ip,
        timeout: Duration::from_secs(args.timeout),
        oci,
    };
    eprintln!(
        "# stockade-conformance: target {}, via {:?}, stockade {}, probe {}, {} case(s)",
        suite.target(),
        args.via,
        suite.stockade.display(),
        suite.probe.display(),
        selected.len()
    );

    let mut results = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for c in &selected {
        let r = suite.run_case(c);
        let line = match &r.verdict {
            Verdict::Pass => {
                passed += 1;
                format!("ok {}", r.name)
            }
            Verdict::Fail(why) => {
                failed += 1;
                format!("not ok {}: {}", r.name, why.join("; "))
            }
            Verdict::Skip(why) => {
                skipped += 1;
                format!("skip {}: {why}", r.name)
            }
        };
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
        results.push(r);
    }
    let summary = format!("{passed} passed, {failed} failed, {skipped} skipped");
    if args.json {
        let report = json!({
            "target": suite.target(),
            "target_label": suite.target().to_string(),
            "via": if suite.oci.is_some() { "oci" } else { "stockade" },
            "host": suite.host,
            "stockade": suite.stockade,
            "probe": suite.probe,
            "cases": results,
            "passed": passed,
            "failed": failed,
            "skipped": skipped,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    // Never remove a folder something is still mounted under: removing would reach into
    // the mounted file system. Such a mount is a leak the cases above already reported.
    let mounted = leaks::mounts_under(&workdir);
    if !mounted.is_empty() {
        eprintln!(
            "# work folder kept, {} mount(s) still below it: {}",
            mounted.len(),
            workdir.display()
        );
        temp.take().map(tempfile::TempDir::keep);
    } else if args.keep || args.workdir.is_some() {
        eprintln!("# work folder kept: {}", workdir.display());
        temp.take().map(tempfile::TempDir::keep);
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
