//! `stockade top`: the environment's processes as the host sees them — the PIDs of its
//! cgroups (`cgroup.procs`) described from procfs (proc(5): `stat`, `status`, `cmdline`).
//! A process that exits while it is read is left out.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use stockade_core::backend::ProcessInfo;

use super::cgroup;

/// The processes in `folders`, read under `proc_root` (`/proc` on a host), by PID.
pub fn processes(
    folders: &[PathBuf],
    proc_root: &Path,
) -> Result<Vec<ProcessInfo>, cgroup::CgroupError> {
    let mut pids = BTreeSet::new();
    for f in folders {
        pids.extend(cgroup::pids(f)?);
    }
    Ok(pids
        .into_iter()
        .filter_map(|pid| describe(proc_root, pid))
        .collect())
}

/// One process from its procfs files; `None` once it is gone.
pub fn describe(proc_root: &Path, pid: i32) -> Option<ProcessInfo> {
    let dir = proc_root.join(pid.to_string());
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = &stat[open + 1..close];
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // f[0] is field 3 (state); utime and stime are fields 14 and 15, rss (pages) 24.
    let ticks = ticks_per_second();
    let cpu = match (f.get(11)?.parse::<u64>(), f.get(12)?.parse::<u64>()) {
        (Ok(u), Ok(s)) => Some((u + s) * 1_000_000 / ticks),
        _ => None,
    };
    let rss = f
        .get(21)
        .and_then(|p| p.parse::<u64>().ok())
        .map(|p| p * page_size());
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcessInfo {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        uid,
        state: f.first()?.to_string(),
        rss_bytes: rss,
        cpu_usec: cpu,
        command: if args.is_empty() {
            format!("[{comm}]")
        } else {
            args.join(" ")
        },
    })
}

fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100)
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_from_fixture_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("42");
        fs::create_dir(&dir).unwrap();
        // A command name with a space and a ')' (fields are counted from the last ')').
        fs::write(
            dir.join("stat"),
            "42 (my) prog) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 9999 1000000 300 18446744073709551615",
        )
        .unwrap();
        fs::write(
            dir.join("status"),
            "Name:\tx\nUid:\t1000\t1000\t1000\t1000\n",
        )
        .unwrap();
        fs::write(dir.join("cmdline"), b"sleep\x00100\x00").unwrap();
        let p = describe(tmp.path(), 42).unwrap();
        assert_eq!((p.pid, p.ppid, p.uid, p.state.as_str()), (42, 7, 1000, "S"));
        assert_eq!(p.command, "sleep 100");
        assert_eq!(p.cpu_usec, Some(300 * 1_000_000 / ticks_per_second()));
        assert_eq!(p.rss_bytes, Some(300 * page_size()));
        fs::write(dir.join("cmdline"), b"").unwrap();
        assert_eq!(describe(tmp.path(), 42).unwrap().command, "[my) prog]");
        assert!(describe(tmp.path(), 43).is_none());
    }
}
