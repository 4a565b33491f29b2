//! `stockade stop NAME [--time SECONDS]`: SIGTERM, then SIGKILL after the grace time.

use std::process::ExitCode;
use std::time::Duration;

use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;

/// Arguments of `stop`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
    /// Seconds to wait after SIGTERM before SIGKILL.
    #[arg(short, long, default_value_t = 10.0, value_name = "SECONDS")]
    pub time: f64,
}

/// Runs `stop`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let grace = Duration::try_from_secs_f64(args.time)
        .map_err(|_| anyhow::anyhow!("--time: {} is not a number of seconds", args.time))?;
    let what = format!("stopping {} (SIGKILL after {}s)", args.name, args.time);
    crate::progress::while_running(&what, || rt.stop(store, &args.name, grace))?;
    Ok(ExitCode::SUCCESS)
}
