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

/// The current resource use of the jail named `name`.
pub fn stats<K: Kernel + ?Sized>(kernel: &mut K, name: &str) -> KResult<Stats> {
    Ok(Stats::from_usage(kernel.racct_usage(name)?))
}
