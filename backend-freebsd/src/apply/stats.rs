//! `stats`: what a jail uses now, from racct (rctl_get_racct(2), `rctl -u jail:NAME`).
//!
//! racct counts per jail name the resources the `[limits]` keys cap, so the figures
//! compare directly with the spec: `memoryuse` (resident bytes) with `limits.memory`,
//! `maxproc` with `limits.processes`, `pcpu` (percent of one CPU) with `limits.cpus`
//! × 100, `openfiles` with `limits.open_files`. Every other resource racct reports is
//! kept in [`Stats::usage`].

use serde::Serialize;

use crate::kernel::{KResult, Kernel, Usage};

/// A jail's current resource use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Resident memory in bytes (`memoryuse`).
    pub memory_bytes: Option<u64>,
    /// Number of processes (`maxproc`).
    pub processes: Option<u64>,
    /// CPU use in percent of one core (`pcpu`; 150 = one and a half cores).
    pub cpu_percent: Option<u64>,
    /// Open file descriptors, jail-wide (`openfiles`).
    pub open_files: Option<u64>,
    /// Everything racct reported, by resource name.
    pub usage: Usage,
}

impl Stats {
    /// The figures of a racct usage report.
    pub fn from_usage(usage: Usage) -> Stats {
        Stats {
            memory_bytes: usage.get("memoryuse").copied(),
            processes: usage.get("maxproc").copied(),
            cpu_percent: usage.get("pcpu").copied(),
            open_files: usage.get("openfiles").copied(),
            usage,
        }
    }
}

impl Stats {
    /// The portable figures (`stockade stats`): memory and processes from racct, CPU time
    /// from `cputime` (whole seconds: racct counts no finer), and the limits in force,
    /// which are the spec's (the rctl rules deny exactly at them). racct keeps no peak.
    pub fn portable(
        &self,
        memory_limit: Option<u64>,
        pids_limit: Option<u64>,
    ) -> stockade_core::backend::Stats {
        stockade_core::backend::Stats {
            memory_current: self.memory_bytes,
            memory_peak: None,
            memory_limit,
            cpu_usec: self
                .usage
                .get("cputime")
                .map(|s| s.saturating_mul(1_000_000)),
            pids_current: self.processes,
            pids_limit,
        }
    }
}

/// The current resource use of the jail named `name`.
pub fn stats<K: Kernel + ?Sized>(kernel: &mut K, name: &str) -> KResult<Stats> {
    Ok(Stats::from_usage(kernel.racct_usage(name)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_figures_from_racct() {
        let usage: Usage = [("memoryuse", 4096), ("maxproc", 2), ("cputime", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let p = Stats::from_usage(usage).portable(Some(1 << 26), None);
        assert_eq!(
            p,
            stockade_core::backend::Stats {
                memory_current: Some(4096),
                memory_peak: None,
                memory_limit: Some(1 << 26),
                cpu_usec: Some(3_000_000),
                pids_current: Some(2),
                pids_limit: None,
            }
        );
    }
}
