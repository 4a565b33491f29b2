//! `limits.visible`: making the limits what a process inside *sees*, so runtimes that size
//! themselves from the machine (the JVM, Go, `make -j$(nproc)`) size themselves to the
//! environment.
//!
//! - **CPU count.** `nproc` and `sched_getaffinity(2)` read the affinity mask. A
//!   `limits.cpuset` already narrows it (the kernel sets the mask when a task enters a
//!   cpuset cgroup); with only `limits.cpus`, the creator sets the first process's mask to
//!   `ceil(cpus)` of the CPUs it may use itself (sched_setaffinity(2)) before releasing it,
//!   and `exec` does the same for what it starts. The quota (`cpu.max`) still enforces
//!   the time; the mask only tells the truth about it.
//! - **/proc files.** proc(5)'s `meminfo`, `cpuinfo` and `stat` describe the host. Like
//!   lxcfs (and with lxcfs's own files when it runs on the host), read-only binds of
//!   files that follow the limits go over them before `pivot_root`, on the environment's
//!   `/proc`. Without lxcfs, apply generates them in the state folder at create: a
//!   snapshot whose totals follow the limits (`MemTotal`, the CPU list) but whose usage
//!   figures do not move; the portability table says so.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stockade_core::backend::PlanContext;
use stockade_core::spec::Spec;

use super::mount::{Mount, MountFlag, MountPlan, MountStep};

/// The folder below the state folder that holds the generated files.
pub const VISIBLE_DIR: &str = "visible";

/// The proc(5) files replaced, in bind order.
pub const PROC_FILES: &[&str] = &["meminfo", "cpuinfo", "stat"];

/// What the environment is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisiblePlan {
    /// Set the affinity of the first process (and of `exec`'s) to this many CPUs: the
    /// rounded-up `limits.cpus` when there is no `limits.cpuset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<u32>,
    /// The CPUs shown: the cpuset's list when pinned (`None`: the affinity's CPUs, or
    /// every CPU the creator may use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// `MemTotal` shown, in bytes (`None`: the host's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Where apply writes the files (`<state_dir>/visible`), bound over `/proc/<file>`.
    pub dir: PathBuf,
}

impl VisiblePlan {
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(n) = self.affinity {
            lines.push(format!(
                "sched_setaffinity of the first process (and exec's) to {n} CPU(s)"
            ));
        }
        lines.push(format!(
            "on the host: write {} into {} (MemTotal {}, CPUs {}), or link lxcfs's files \
             when lxcfs runs",
            PROC_FILES.join(", "),
            self.dir.display(),
            self.memory
                .map_or_else(|| "the host's".to_string(), |m| m.to_string()),
            self.cpuset.as_deref().unwrap_or("of the affinity"),
        ));
        lines
    }
}

impl fmt::Display for VisiblePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join("; "))
    }
}

/// The rounded-up number of CPUs of a CPU share (at least 1).
pub fn cpu_count(cpus: f64) -> u32 {
    // limits.cpus is validated finite and >= 0.01; u32 saturates for absurd shares, which
    // the cgroup planner refuses anyway.
    (cpus.ceil() as u32).max(1)
}

/// The visibility plan of a spec, `None` unless `limits.visible`.
pub fn plan(spec: &Spec, ctx: &PlanContext) -> Option<VisiblePlan> {
    let limits = &spec.limits;
    if !limits.visible {
        return None;
    }
    Some(VisiblePlan {
        affinity: match (&limits.cpuset, limits.cpus) {
            (None, Some(cpus)) => Some(cpu_count(cpus)),
            _ => None,
        },
        cpuset: limits.cpuset.as_ref().map(ToString::to_string),
        memory: limits.memory,
        dir: ctx.state_dir.join(VISIBLE_DIR),
    })
}

/// Adds the read-only binds of the generated files over the environment's `/proc` files,
/// before `pivot_root` (their sources are host paths). Nothing when `/proc` is not a proc
/// mount of the environment (a spec that binds something else there).
pub fn add_binds(visible: &VisiblePlan, mounts: &mut MountPlan) {
    let has_proc = mounts
        .mounts()
        .any(|m| m.fstype.as_deref() == Some("proc") && m.target == Path::new("/proc"));
    let Some(pivot) = mounts
        .steps
        .iter()
        .position(|s| matches!(s, MountStep::PivotRoot { .. }))
    else {
        return;
    };
    if !has_proc {
        return;
    }
    let mut binds = Vec::new();
    for file in PROC_FILES {
        let target = Path::new("/proc").join(file);
        binds.push(MountStep::Mount(Mount {
            source: Some(visible.dir.join(file)),
            target: target.clone(),
            fstype: None,
            flags: [MountFlag::Bind].into_iter().collect(),
            data: None,
            optional: false,
        }));
        binds.push(MountStep::Mount(Mount {
            source: None,
            target,
            fstype: None,
            flags: [
                MountFlag::Remount,
                MountFlag::Bind,
                MountFlag::Readonly,
                MountFlag::Nosuid,
                MountFlag::Nodev,
                MountFlag::Noexec,
            ]
            .into_iter()
            .collect(),
            data: None,
            optional: false,
        }));
    }
    mounts.steps.splice(pivot..pivot, binds);
}

#[cfg(test)]
mod tests {
    use stockade_core::backend::CgroupVersion;

    use super::*;
    use crate::plan::tests::{ctx, spec};

    #[test]
    fn off_unless_asked() {
        assert_eq!(
            plan(&spec("[limits]\ncpus = 1\n"), &ctx(CgroupVersion::V2)),
            None
        );
    }

    #[test]
    fn cpus_round_up_to_an_affinity_without_a_cpuset() {
        let p = plan(
            &spec("[limits]\ncpus = 1.5\nmemory = \"64M\"\nvisible = true\n"),
            &ctx(CgroupVersion::V2),
        )
        .unwrap();
        assert_eq!(p.affinity, Some(2));
        assert_eq!(p.memory, Some(64 << 20));
        assert_eq!(p.dir, Path::new("/run/stockade/web/visible"));
        let pinned = plan(
            &spec("[limits]\ncpus = 1.5\ncpuset = \"3\"\nvisible = true\n"),
            &ctx(CgroupVersion::V1),
        )
        .unwrap();
        assert_eq!(pinned.affinity, None);
        assert_eq!(pinned.cpuset.as_deref(), Some("3"));
        assert_eq!(cpu_count(0.01), 1);
        assert_eq!(cpu_count(2.0), 2);
    }

    #[test]
    fn binds_go_over_proc_before_the_pivot() {
        let plan = crate::plan::plan(
            &spec("[limits]\nmemory = \"64M\"\nvisible = true\n"),
            &ctx(CgroupVersion::V2),
        )
        .unwrap();
        let text: Vec<String> = plan.mounts.steps.iter().map(ToString::to_string).collect();
        let pivot = text
            .iter()
            .position(|s| s.starts_with("pivot_root"))
            .unwrap();
        let meminfo = text
            .iter()
            .position(|s| s == "mount /run/stockade/web/visible/meminfo on /proc/meminfo (bind)")
            .unwrap_or_else(|| panic!("{text:#?}"));
        let proc = text
            .iter()
            .position(|s| s.starts_with("mount proc on /proc type proc"))
            .unwrap();
        assert!(proc < meminfo && meminfo < pivot);
        assert_eq!(
            text[meminfo + 1],
            "remount /proc/meminfo (bind,ro,nosuid,nodev,noexec)"
        );
        assert_eq!(text.iter().filter(|s| s.contains("/visible/")).count(), 3);
    }

    #[test]
    fn no_binds_without_a_proc_at_proc() {
        let plan = crate::plan::plan(
            &spec("[[mount]]\nkind = \"tmpfs\"\ntarget = \"/proc\"\n[limits]\nvisible = true\n"),
            &ctx(CgroupVersion::V2),
        )
        .unwrap();
        assert!(!plan.to_string().contains("/visible/"));
    }
}
