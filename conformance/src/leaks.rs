//! What an environment may leave behind after `delete`, looked for from the host: its
//! state folder, mounts naming its state folder or root, a cgroup folder named after it
//! below a `stockade` folder, host interfaces that appeared while it lived, a FreeBSD jail
//! or rctl rule of its name, and probe processes still running.
//!
//! Interfaces and probe processes are compared with a snapshot taken before the case;
//! the rest is matched by name and path.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::host::Host;

/// A snapshot of the host taken before a case.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    interfaces: BTreeSet<String>,
    probes: BTreeSet<i32>,
}

/// Host interface names: /sys/class/net on Linux, `ifconfig -l` on FreeBSD.
pub fn interfaces() -> BTreeSet<String> {
    if let Ok(entries) = fs::read_dir("/sys/class/net") {
        return entries
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .collect();
    }
    Command::new("ifconfig")
        .arg("-l")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Processes whose command line starts with the probe's path inside environments.
pub fn probe_processes(probe_inside: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            if cmdline.starts_with(probe_inside.as_bytes()) {
                out.insert(pid);
            }
        }
        if !out.is_empty() || Path::new("/proc/self").exists() {
            return out;
        }
    }
    // FreeBSD (no /proc by default): ps.
    if let Ok(o) = Command::new("ps")
        .args(["-ax", "-o", "pid=,args="])
        .output()
    {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let line = line.trim_start();
            if let Some((pid, args)) = line.split_once(' ') {
                if args.trim_start().starts_with(probe_inside) {
                    if let Ok(pid) = pid.parse() {
                        out.insert(pid);
                    }
                }
            }
        }
    }
    out
}

impl Baseline {
    /// Takes the snapshot.
    pub fn take(probe_inside: &str) -> Baseline {
        Baseline {
            interfaces: interfaces(),
            probes: probe_processes(probe_inside),
        }
    }
}

/// Mount points on the host: /proc/self/mountinfo, or `mount -p` on FreeBSD.
fn mount_points() -> Vec<String> {
    if let Ok(text) = fs::read_to_string("/proc/self/mountinfo") {
        return text.lines().map(str::to_string).collect();
    }
    Command::new("mount")
        .arg("-p")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Mount table lines naming a path below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    mount_points()
        .into_iter()
        .filter(|l| l.contains(&prefix))
        .collect()
}

/// cgroup folders `<...>/stockade/<name>` (or `<name>.<hash>`, under a state root other
/// than the default) below the host's cgroup mounts.
pub fn cgroup_dirs(mounts: &[PathBuf], name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let path = e.path();
            let file = e.file_name();
            let file = file.to_string_lossy();
            let ours = file == name
                || file
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()));
            if ours && dir.file_name().is_some_and(|p| p == "stockade") {
                out.push(path.clone());
            }
            if depth > 0 {
                walk(&path, name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    for m in mounts {
        walk(m, name, 5, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// What is left of environment `name` (state folder `state_dir`, root `root`).
pub fn leftovers(
    host: &Host,
    before: &Baseline,
    probe_inside: &str,
    name: &str,
    state_dir: &Path,
    root: Option<&Path>,
) -> Vec<String> {
    let mut left = Vec::new();
    if state_dir.exists() {
        left.push(format!("state folder {}", state_dir.display()));
    }
    let state_text = state_dir.display().to_string();
    let root_text = root.map(|r| r.display().to_string());
    for line in mount_points() {
        let hit = line.contains(&format!("{state_text}/"))
            || line.split_whitespace().any(|f| f == state_text)
            || root_text
                .as_ref()
                .is_some_and(|r| line.contains(r.as_str()));
        if hit {
            left.push(format!("mount: {line}"));
        }
    }
    if let Some(c) = &host.cgroups {
        let mounts: Vec<PathBuf> = c.mounts.iter().map(|m| m.path.clone()).collect();
        for dir in cgroup_dirs(&mounts, name) {
            left.push(format!("cgroup {}", dir.display()));
        }
    }
    for iface in interfaces().difference(&before.interfaces) {
        left.push(format!("interface {iface}"));
    }
    for pid in probe_processes(probe_inside).difference(&before.probes) {
        left.push(format!("process {pid} ({probe_inside})"));
    }
    if host.cgroups.is_none() {
        let jail = Command::new("jls").args(["-j", name, "jid"]).output();
        if jail.is_ok_and(|o| o.status.success()) {
            left.push(format!("jail {name}"));
        }
        if let Ok(o) = Command::new("rctl").output() {
            for rule in String::from_utf8_lossy(&o.stdout).lines() {
                if rule.starts_with(&format!("jail:{name}:")) {
                    left.push(format!("rctl rule {rule}"));
                }
            }
        }
    }
    left
}

/// Probe processes that appeared since the snapshot (to end them after reporting).
pub fn new_probes(before: &Baseline, probe_inside: &str) -> Vec<i32> {
    probe_processes(probe_inside)
        .difference(&before.probes)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_folders_below_a_stockade_folder_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let memory = dir.path().join("memory");
        fs::create_dir_all(memory.join("stockade/web")).unwrap();
        fs::create_dir_all(memory.join("stockade/other")).unwrap();
        fs::create_dir_all(memory.join("stockade/web.1a2b3c4")).unwrap();
        fs::create_dir_all(memory.join("stockade/web-2")).unwrap();
        fs::create_dir_all(memory.join("web")).unwrap();
        let pids = dir.path().join("pids");
        fs::create_dir_all(pids.join("system.slice/stockade/web")).unwrap();
        let mut found = cgroup_dirs(&[memory.clone(), pids.clone()], "web");
        found.sort();
        assert_eq!(
            found,
            [
                memory.join("stockade/web"),
                memory.join("stockade/web.1a2b3c4"),
                pids.join("system.slice/stockade/web")
            ]
        );
        assert!(cgroup_dirs(&[memory], "gone").is_empty());
    }
}
