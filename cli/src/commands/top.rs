//! `stockade top NAME [--json]` (also `ps NAME`): the environment's processes as the host
//! sees them — host PIDs, so they can be traced, signalled or profiled from outside.

use std::io::Write as _;
use std::process::ExitCode;

use stockade_core::backend::{ProcessInfo, Runtime};
use stockade_core::spec::format_size;
use stockade_core::state::StateStore;

/// Arguments of `top`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The environment.
    pub name: String,
}

/// Runs `top`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    show(rt, store, &args.name, args.json)
}

/// Prints an environment's processes (shared with `ps NAME`).
pub fn show<R: Runtime>(
    rt: &R,
    store: &StateStore,
    name: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let procs = rt.processes(store, name)?;
    let mut out = std::io::stdout().lock();
    let result = if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&procs)?)
    } else {
        table(&mut out, &procs)
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn table(out: &mut impl std::io::Write, procs: &[ProcessInfo]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>8} {:>8} {:>6} {:<4} {:>7} {:>9}  COMMAND",
        "PID", "PPID", "UID", "STAT", "RSS", "TIME"
    )?;
    for p in procs {
        let rss = p.rss_bytes.map_or("-".into(), format_size);
        let time = p.cpu_usec.map_or("-".into(), |us| {
            let s = us / 1_000_000;
            format!("{}:{:02}.{:02}", s / 60, s % 60, us % 1_000_000 / 10_000)
        });
        writeln!(
            out,
            "{:>8} {:>8} {:>6} {:<4} {:>7} {:>9}  {}",
            p.pid, p.ppid, p.uid, p.state, rss, time, p.command
        )?;
    }
    Ok(())
}
