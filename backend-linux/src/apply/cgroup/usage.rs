//! What an environment uses, read from its cgroup folders (kernel docs
//! admin-guide/cgroup-v2.rst "Memory", "CPU", "PID"; cgroup-v1/memory.rst, cpuacct.rst,
//! pids.rst), and whether its process was killed for exceeding its memory limit.
//!
//! | figure | v2 | v1 |
//! |---|---|---|
//! | memory now | `memory.current` | `memory.usage_in_bytes` |
//! | memory peak | `memory.peak` (5.19+) | `memory.max_usage_in_bytes` |
//! | memory limit | `memory.max` | `memory.limit_in_bytes` |
//! | CPU time | `cpu.stat` `usage_usec` | `cpuacct.usage` (ns) |
//! | processes | `pids.current` / `pids.max` | `pids.current` / `pids.max` |
//! | OOM kills | `memory.events` `oom_kill` | `memory.oom_control` `oom_kill` (4.13+), else `memory.failcnt` |
//!
//! Each figure is looked for in every recorded folder, so the same code serves v2 (one
//! folder) and v1 (one per hierarchy) without remembering which hierarchy is which. Both
//! memory figures count page cache, as the limit does.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stockade_core::backend::Stats;
use stockade_core::state::Exit;

use super::CgroupError;

/// The reason recorded for an environment whose process the kernel's OOM killer ended.
pub const OUT_OF_MEMORY: &str = "out of memory";

/// v1 writes "no limit" as the largest page-aligned value (`PAGE_COUNTER_MAX` pages);
/// anything this large is no limit.
const V1_UNLIMITED: u64 = 1 << 62;

/// The first of `names` that exists in any folder: its path and content.
fn find(folders: &[PathBuf], names: &[&str]) -> Result<Option<(PathBuf, String)>, CgroupError> {
    for name in names {
        for dir in folders {
            let path = dir.join(name);
            match fs::read_to_string(&path) {
                Ok(text) => return Ok(Some((path, text))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(CgroupError::Io { path, source }),
            }
        }
    }
    Ok(None)
}

fn number(path: &Path, text: &str) -> Result<u64, CgroupError> {
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        text: text.trim().to_string(),
    })
}

/// A counter file: `None` when absent.
fn counter(folders: &[PathBuf], names: &[&str]) -> Result<Option<u64>, CgroupError> {
    find(folders, names)?
        .map(|(path, text)| number(&path, &text))
        .transpose()
}

/// A limit file: `None` when absent or unlimited (`max` on v2, a huge value on v1).
fn limit(folders: &[PathBuf], names: &[&str]) -> Result<Option<u64>, CgroupError> {
    let Some((path, text)) = find(folders, names)? else {
        return Ok(None);
    };
    if text.trim() == "max" {
        return Ok(None);
    }
    let n = number(&path, &text)?;
    Ok((n < V1_UNLIMITED).then_some(n))
}

/// The value of `key` in a flat-keyed file (`key value` lines).
fn keyed(folders: &[PathBuf], file: &str, key: &str) -> Result<Option<u64>, CgroupError> {
    let Some((path, text)) = find(folders, &[file])? else {
        return Ok(None);
    };
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| number(&path, v))
        .transpose()
}

/// The figures of an environment's cgroup folders.
pub fn read(folders: &[PathBuf]) -> Result<Stats, CgroupError> {
    let cpu_usec = match keyed(folders, "cpu.stat", "usage_usec")? {
        Some(us) => Some(us),
        None => counter(folders, &["cpuacct.usage"])?.map(|ns| ns / 1000),
    };
    Ok(Stats {
        memory_current: counter(folders, &["memory.current", "memory.usage_in_bytes"])?,
        memory_peak: counter(folders, &["memory.peak", "memory.max_usage_in_bytes"])?,
        memory_limit: limit(folders, &["memory.max", "memory.limit_in_bytes"])?,
        cpu_usec,
        pids_current: counter(folders, &["pids.current"])?,
        pids_limit: limit(folders, &["pids.max"])?,
    })
}

/// How many processes the OOM killer ended in the environment: v2 `memory.events`
/// `oom_kill`, v1 `memory.oom_control` `oom_kill`. On a v1 kernel older than 4.13, which
/// does not count kills, the number of times the limit was hit (`memory.failcnt`) stands in.
/// `None` when there is no memory controller.
pub fn oom_kills(folders: &[PathBuf]) -> Result<Option<u64>, CgroupError> {
    if let Some(n) = keyed(folders, "memory.events", "oom_kill")? {
        return Ok(Some(n));
    }
    if find(folders, &["memory.oom_control"])?.is_some() {
        if let Some(n) = keyed(folders, "memory.oom_control", "oom_kill")? {
            return Ok(Some(n));
        }
        return counter(folders, &["memory.failcnt"]);
    }
    Ok(None)
}

/// `exit` with its reason set to [`OUT_OF_MEMORY`] when its process died of SIGKILL (or
/// reports 137, as a shell or the init reaper relays it) and the OOM killer killed in the
/// environment. A reason already known (an exec failure) is kept.
///
/// The kernel counts the kill right after sending SIGKILL, which can race with the wait
/// that reported the death: a zero count is read again for up to 100 ms.
pub fn annotate(mut exit: Exit, folders: &[PathBuf]) -> Exit {
    if exit.reason.is_some() || exit.code != 128 + libc::SIGKILL {
        return exit;
    }
    for attempt in 0..10 {
        match oom_kills(folders) {
            Ok(Some(n)) if n > 0 => {
                exit.reason = Some(OUT_OF_MEMORY.into());
                break;
            }
            Ok(Some(_)) if attempt < 9 => std::thread::sleep(Duration::from_millis(10)),
            _ => break,
        }
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn killed() -> Exit {
        Exit {
            code: 137,
            signal: Some(9),
            reason: None,
        }
    }

    #[test]
    fn v2_figures() {
        let d = folder(&[
            ("memory.current", "1048576\n"),
            ("memory.peak", "4194304\n"),
            ("memory.max", "67108864\n"),
            (
                "cpu.stat",
                "usage_usec 523000\nuser_usec 500000\nsystem_usec 23000\n",
            ),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n",
            ),
        ]);
        let f = vec![d.path().to_path_buf()];
        assert_eq!(
            read(&f).unwrap(),
            Stats {
                memory_current: Some(1 << 20),
                memory_peak: Some(4 << 20),
                memory_limit: Some(64 << 20),
                cpu_usec: Some(523_000),
                pids_current: Some(3),
                pids_limit: None,
            }
        );
        assert_eq!(oom_kills(&f).unwrap(), Some(1));
        assert_eq!(
            annotate(killed(), &f).reason.as_deref(),
            Some(OUT_OF_MEMORY)
        );
    }

    #[test]
    fn v1_figures_across_hierarchies() {
        let memory = folder(&[
            ("memory.usage_in_bytes", "2097152\n"),
            ("memory.max_usage_in_bytes", "8388608\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
            ("memory.failcnt", "7\n"),
        ]);
        let cpuacct = folder(&[("cpuacct.usage", "2500000000\n")]);
        let pids = folder(&[("pids.current", "1\n"), ("pids.max", "16\n")]);
        let f = vec![
            memory.path().to_path_buf(),
            cpuacct.path().to_path_buf(),
            pids.path().to_path_buf(),
        ];
        let s = read(&f).unwrap();
        assert_eq!(s.memory_current, Some(2 << 20));
        assert_eq!(s.memory_peak, Some(8 << 20));
        assert_eq!(s.memory_limit, None, "v1's 'unlimited' is no limit");
        assert_eq!(s.cpu_usec, Some(2_500_000));
        assert_eq!((s.pids_current, s.pids_limit), (Some(1), Some(16)));
        // oom_kill 0 wins over failcnt: hitting the limit is not being killed.
        assert_eq!(oom_kills(&f).unwrap(), Some(0));
        assert_eq!(annotate(killed(), &f).reason, None);
    }

    #[test]
    fn old_v1_kernels_fall_back_to_failcnt() {
        let memory = folder(&[
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"),
            ("memory.failcnt", "3\n"),
        ]);
        let f = vec![memory.path().to_path_buf()];
        assert_eq!(oom_kills(&f).unwrap(), Some(3));
        assert_eq!(
            annotate(killed(), &f).reason.as_deref(),
            Some(OUT_OF_MEMORY)
        );
    }

    #[test]
    fn annotate_keeps_other_exits_alone() {
        let d = folder(&[("memory.events", "oom_kill 2\n")]);
        let f = vec![d.path().to_path_buf()];
        let normal = Exit {
            code: 1,
            signal: None,
            reason: None,
        };
        assert_eq!(annotate(normal.clone(), &f), normal);
        let known = Exit {
            code: 137,
            signal: None,
            reason: Some("x: command not found".into()),
        };
        assert_eq!(annotate(known.clone(), &f), known);
        // 137 relayed by a shell or the init reaper counts too.
        let relayed = Exit {
            code: 137,
            signal: None,
            reason: None,
        };
        assert_eq!(annotate(relayed, &f).reason.as_deref(), Some(OUT_OF_MEMORY));
        // No memory controller: nothing to say.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(oom_kills(&[empty.path().to_path_buf()]).unwrap(), None);
        assert_eq!(
            annotate(killed(), &[empty.path().to_path_buf()]).reason,
            None
        );
    }

    #[test]
    fn garbage_is_an_error_with_the_path() {
        let d = folder(&[("pids.current", "many\n")]);
        let err = read(&[d.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("pids.current"), "{err}");
    }
}
