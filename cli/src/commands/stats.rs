//! `stockade stats NAME [--json]`: resource use against the limits, from the cgroup (Linux)
//! or racct (FreeBSD).

use std::process::ExitCode;

use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;

/// Arguments of `stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `stats`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let s = rt.stats(store, &args.name)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let bytes = |v: Option<u64>| v.map_or("-".to_string(), human);
    let count = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
    let limit = |v: Option<u64>, f: &dyn Fn(Option<u64>) -> String| {
        v.map_or("unlimited".to_string(), |_| f(v))
    };
    println!(
        "memory  {} now, {} peak, limit {}",
        bytes(s.memory_current),
        bytes(s.memory_peak),
        limit(s.memory_limit, &bytes)
    );
    println!(
        "cpu     {}",
        s.cpu_usec
            .map_or("-".to_string(), |us| format!("{:.3} s", us as f64 / 1e6))
    );
    println!(
        "pids    {} now, limit {}",
        count(s.pids_current),
        limit(s.pids_limit, &count)
    );
    Ok(ExitCode::SUCCESS)
}

/// Bytes with one decimal and a binary suffix: "48.2M".
fn human(bytes: u64) -> String {
    let mut value = bytes as f64;
    for suffix in ["", "K", "M", "G"] {
        if value < 1024.0 {
            return if suffix.is_empty() {
                format!("{bytes}")
            } else {
                format!("{value:.1}{suffix}")
            };
        }
        value /= 1024.0;
    }
    format!("{value:.1}T")
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512");
        assert_eq!(human(50_548_736), "48.2M");
        assert_eq!(human(134_217_728), "128.0M");
        assert_eq!(human(3 << 40), "3.0T");
    }
}
