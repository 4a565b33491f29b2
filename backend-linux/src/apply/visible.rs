//! `limits.visible` on the host side (see [`crate::plan::visible`]): the files bound over
//! the environment's `/proc/{meminfo,cpuinfo,stat}`, and the affinity mask
//! (sched_setaffinity(2)) of a process started with only `limits.cpus`.
//!
//! When lxcfs runs (its FUSE file system at [`LXCFS_PROC`]), the files are symbolic
//! links to lxcfs's, which answer live for the reading process's cgroup (mount(2)
//! follows a symbolic link in its source). Otherwise they are generated from the host's
//! at create: the text functions here are pure, and tested on fixtures.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::plan::visible::{VisiblePlan, PROC_FILES};

/// Where lxcfs serves its proc files.
pub const LXCFS_PROC: &str = "/var/lib/lxcfs/proc";

/// What can fail, with the path or the call.
#[derive(Debug, thiserror::Error)]
pub enum VisibleError {
    /// Reading the host's file or writing the environment's.
    #[error("limits.visible: {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// sched_getaffinity(2) / sched_setaffinity(2).
    #[error("limits.visible: {what}: {source}")]
    Affinity {
        /// The call and its target.
        what: String,
        /// The errno.
        source: nix::errno::Errno,
    },
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> VisibleError + '_ {
    move |source| VisibleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The CPUs the calling process may run on, ascending.
pub fn allowed_cpus() -> Result<Vec<usize>, VisibleError> {
    let set = sched_getaffinity(Pid::from_raw(0)).map_err(|source| VisibleError::Affinity {
        what: "sched_getaffinity".into(),
        source,
    })?;
    Ok((0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect())
}

/// The CPUs shown inside: the cpuset's, else the first `affinity` CPUs the creator may
/// use, else all of those.
pub fn shown_cpus(plan: &VisiblePlan, allowed: &[usize]) -> Vec<usize> {
    if let Some(list) = &plan.cpuset {
        if let Ok(set) = stockade_core::spec::CpuSet::parse(list) {
            return set.cpus().iter().map(|&c| c as usize).collect();
        }
    }
    let n = plan.affinity.map_or(allowed.len(), |n| n as usize);
    allowed.iter().copied().take(n.max(1)).collect()
}

/// Writes (or links) the files bound over `/proc`, in `plan.dir`.
pub fn prepare(plan: &VisiblePlan) -> Result<(), VisibleError> {
    fs::create_dir_all(&plan.dir).map_err(at(&plan.dir))?;
    if lxcfs_runs() {
        for file in PROC_FILES {
            let link = plan.dir.join(file);
            std::os::unix::fs::symlink(Path::new(LXCFS_PROC).join(file), &link)
                .map_err(at(&link))?;
        }
        return Ok(());
    }
    let cpus = shown_cpus(plan, &allowed_cpus()?);
    let read = |name: &str| {
        let path = Path::new("/proc").join(name);
        fs::read_to_string(&path).map_err(at(&path))
    };
    let files = [
        ("meminfo", meminfo(&read("meminfo")?, plan.memory)),
        ("cpuinfo", cpuinfo(&read("cpuinfo")?, &cpus)),
        ("stat", stat(&read("stat")?, &cpus)),
    ];
    for (name, text) in files {
        let path = plan.dir.join(name);
        fs::write(&path, text).map_err(at(&path))?;
    }
    Ok(())
}

/// True when lxcfs serves its files (a FUSE mount with a readable meminfo).
fn lxcfs_runs() -> bool {
    let mounted = fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| {
        m.lines()
            .any(|l| l.contains(" - fuse.lxcfs ") && l.contains(" /var/lib/lxcfs "))
    });
    mounted && fs::metadata(Path::new(LXCFS_PROC).join("meminfo")).is_ok()
}

/// Sets `pid`'s affinity to the first `plan.affinity` CPUs the caller may use; nothing
/// without an affinity (no `limits.cpus`, or a cpuset that sets it already).
pub fn set_affinity(plan: &VisiblePlan, pid: Pid) -> Result<(), VisibleError> {
    if plan.affinity.is_none() {
        return Ok(());
    }
    let mut set = CpuSet::new();
    for cpu in shown_cpus(plan, &allowed_cpus()?) {
        set.set(cpu).map_err(|source| VisibleError::Affinity {
            what: format!("CPU {cpu}"),
            source,
        })?;
    }
    sched_setaffinity(pid, &set).map_err(|source| VisibleError::Affinity {
        what: format!("sched_setaffinity of {pid}"),
        source,
    })
}

/// The host's meminfo with the memory limit as total and free memory, and no swap (the
/// plan sets `memory.swap.max = 0`); unchanged without a limit.
pub fn meminfo(host: &str, limit: Option<u64>) -> String {
    let Some(limit) = limit else {
        return host.to_string();
    };
    let total_kb = |line: &str| -> Option<u64> {
        line.strip_prefix("MemTotal:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    };
    let host_total = host.lines().find_map(total_kb).unwrap_or(u64::MAX);
    let kb = (limit / 1024).min(host_total);
    let mut out = String::new();
    for line in host.lines() {
        let key = line.split(':').next().unwrap_or("");
        let value = match key {
            "MemTotal" | "MemFree" | "MemAvailable" => Some(kb),
            "Buffers" | "Cached" | "SwapCached" | "SwapTotal" | "SwapFree" => Some(0),
            _ => None,
        };
        match value {
            Some(v) => out.push_str(&format!("{:<16}{v:>8} kB\n", format!("{key}:"))),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The host's cpuinfo blocks of `cpus`, renumbered from 0 as the environment counts them.
pub fn cpuinfo(host: &str, cpus: &[usize]) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for block in host.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let number = block.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "processor").then(|| v.trim().parse::<usize>().ok())?
        });
        // Blocks without a number (some architectures' header) are kept.
        if number.is_some_and(|n| !cpus.contains(&n)) {
            continue;
        }
        for line in block.lines() {
            match line.split_once(':') {
                Some((k, _)) if k.trim() == "processor" => {
                    out.push_str(&format!("{k}: {shown}\n"));
                    shown += 1;
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The host's stat with only the `cpuN` lines of `cpus`, renumbered, and the `cpu` total
/// as their sum.
pub fn stat(host: &str, cpus: &[usize]) -> String {
    let mut rows: Vec<Vec<u64>> = Vec::new();
    let mut out = String::new();
    let mut total_at = None;
    for line in host.lines() {
        let mut fields = line.split_whitespace();
        let name = fields.next().unwrap_or("");
        if name == "cpu" {
            total_at = Some(out.len());
            continue;
        }
        if let Some(n) = name
            .strip_prefix("cpu")
            .and_then(|n| n.parse::<usize>().ok())
        {
            if cpus.contains(&n) {
                let values: Vec<u64> = fields.filter_map(|v| v.parse().ok()).collect();
                let joined: Vec<String> = values.iter().map(u64::to_string).collect();
                out.push_str(&format!("cpu{} {}\n", rows.len(), joined.join(" ")));
                rows.push(values);
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let sums: Vec<String> = (0..width)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .sum::<u64>()
                .to_string()
        })
        .collect();
    let total = format!("cpu  {}\n", sums.join(" "));
    out.insert_str(total_at.unwrap_or(0), &total);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16000000 kB\nMemFree:         8000000 kB\n\
        MemAvailable:   12000000 kB\nBuffers:          100000 kB\nCached:          2000000 kB\n\
        SwapCached:            0 kB\nActive:          3000000 kB\nSwapTotal:       1000000 kB\n\
        SwapFree:        1000000 kB\n";

    #[test]
    fn meminfo_shows_the_limit() {
        let text = meminfo(MEMINFO, Some(64 << 20));
        assert!(text.starts_with("MemTotal:          65536 kB\n"), "{text}");
        assert!(text.contains("MemAvailable:      65536 kB\n"), "{text}");
        assert!(text.contains("SwapTotal:             0 kB\n"), "{text}");
        assert!(text.contains("Active:          3000000 kB\n"), "{text}");
        assert_eq!(meminfo(MEMINFO, None), MEMINFO);
        // A limit above the host's memory shows the host's.
        assert!(meminfo(MEMINFO, Some(1 << 50)).starts_with("MemTotal:       16000000 kB"));
    }

    const CPUINFO: &str = "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\n\
        processor\t: 2\nmodel name\t: Y\n\n";

    #[test]
    fn cpuinfo_keeps_the_shown_cpus_renumbered() {
        let text = cpuinfo(CPUINFO, &[2]);
        assert_eq!(text, "processor\t: 0\nmodel name\t: Y\n\n");
        assert_eq!(cpuinfo(CPUINFO, &[0, 1, 2]).matches("processor").count(), 3);
    }

    #[test]
    fn stat_sums_the_shown_cpus() {
        let host = "cpu  9 9 9\ncpu0 1 2 3\ncpu1 10 20 30\ncpu2 100 200 300\nintr 5\nbtime 7\n";
        assert_eq!(
            stat(host, &[0, 2]),
            "cpu  101 202 303\ncpu0 1 2 3\ncpu1 100 200 300\nintr 5\nbtime 7\n"
        );
    }

    #[test]
    fn shown_cpus_follow_the_plan() {
        let mut plan = VisiblePlan {
            affinity: Some(2),
            cpuset: None,
            memory: None,
            dir: PathBuf::from("/x"),
        };
        assert_eq!(shown_cpus(&plan, &[1, 3, 5]), [1, 3]);
        plan.affinity = None;
        assert_eq!(shown_cpus(&plan, &[1, 3, 5]), [1, 3, 5]);
        plan.cpuset = Some("0,4".into());
        assert_eq!(shown_cpus(&plan, &[1]), [0, 4]);
    }
}
