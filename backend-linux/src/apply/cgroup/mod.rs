//! The environment's control groups (cgroups(7)): finding the hierarchies in
//! `/proc/self/mountinfo` (proc(5)), making the environment's folder in each, writing the
//! plan's limit files, placing its first process, and on delete killing what is left and
//! removing the folders.
//!
//! On v2 there is one folder under the cgroup2 mount, and the controllers the plan needs
//! are enabled in `cgroup.subtree_control` of each ancestor. On v1 (including hybrid hosts
//! where a controller-less cgroup2 sits at `/sys/fs/cgroup/unified`) there is one folder per
//! controller hierarchy the plan writes to; every hierarchy sees every process, so killing
//! through any one of them reaches all of the environment's processes.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stockade_core::backend::CgroupVersion;

use crate::plan::cgroup::CgroupPlan;

/// What can go wrong with cgroups, with the path.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No hierarchy holds a controller the plan needs.
    #[error(
        "cgroup controller {controller:?} is not mounted on this host ({version}); \
         mount it or remove the limit that needs it"
    )]
    NoHierarchy {
        /// The controller.
        controller: String,
        /// The version planned for.
        version: CgroupVersion,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Processes kept appearing in the cgroup.
    #[error("{}: processes remain after SIGKILL", path.display())]
    NotEmpty {
        /// The cgroup folder.
        path: PathBuf,
    },
}

trait At<T> {
    fn at(self, path: &Path) -> Result<T, CgroupError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, CgroupError> {
        self.map_err(|source| CgroupError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A cgroup hierarchy mounted on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted.
    pub mount: PathBuf,
    /// v1: the controllers it carries (`memory`, `cpu`, `cpuacct`...); empty for v2.
    pub controllers: Vec<String>,
    /// True for cgroup2.
    pub unified: bool,
}

/// The cgroup hierarchies in a mountinfo text.
pub fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            let options = right.next().unwrap_or("");
            let mount = PathBuf::from(mount.replace("\\040", " "));
            match fstype {
                "cgroup2" => Some(Hierarchy {
                    mount,
                    controllers: Vec::new(),
                    unified: true,
                }),
                "cgroup" => Some(Hierarchy {
                    mount,
                    controllers: options
                        .split(',')
                        .filter(|o| *o != "rw" && *o != "ro" && !o.contains('='))
                        .map(str::to_string)
                        .collect(),
                    unified: false,
                }),
                _ => None,
            }
        })
        .collect()
}

/// The environment's cgroup folders (absolute), in the order they are made: for v2 one,
/// for v1 one per hierarchy the plan's controllers live in (never twice for co-mounted
/// controllers like `cpu,cpuacct`).
pub fn folders(plan: &CgroupPlan, mounted: &[Hierarchy]) -> Result<Vec<PathBuf>, CgroupError> {
    match plan.version {
        CgroupVersion::V2 => {
            let h = mounted
                .iter()
                .find(|h| h.unified)
                .ok_or_else(|| CgroupError::NoHierarchy {
                    controller: "cgroup2".into(),
                    version: plan.version,
                })?;
            Ok(vec![h.mount.join(&plan.path)])
        }
        CgroupVersion::V1 => {
            let mut out: Vec<PathBuf> = Vec::new();
            let mut wanted = plan.controllers.clone();
            // A hierarchy every process is in, to find and kill them all even when the
            // plan has no limit: `pids` when mounted (cheap), else the first needed.
            if mounted
                .iter()
                .any(|h| h.controllers.iter().any(|c| c == "pids"))
            {
                wanted.push("pids".into());
            }
            for controller in &wanted {
                let h = mounted
                    .iter()
                    .find(|h| !h.unified && h.controllers.contains(controller))
                    .ok_or_else(|| CgroupError::NoHierarchy {
                        controller: controller.clone(),
                        version: plan.version,
                    })?;
                let dir = h.mount.join(&plan.path);
                if !out.contains(&dir) {
                    out.push(dir);
                }
            }
            Ok(out)
        }
    }
}

/// The folder that holds `controller`'s files among `folders`.
fn folder_for<'a>(
    folders: &'a [PathBuf],
    mounted: &[Hierarchy],
    controller: Option<&str>,
) -> Option<&'a PathBuf> {
    match controller {
        None => folders.first(),
        Some(c) => folders.iter().find(|f| {
            mounted
                .iter()
                .any(|h| f.starts_with(&h.mount) && h.controllers.iter().any(|x| x == c))
        }),
    }
}

/// Makes one cgroup folder (and the shared `stockade` parent). On v2 first enables the
/// plan's controllers for the children of each ancestor.
pub fn make(folder: &Path, plan: &CgroupPlan, mounted: &[Hierarchy]) -> Result<(), CgroupError> {
    if let Some(parent) = folder.parent() {
        fs::create_dir_all(parent).at(parent)?;
        if plan.version == CgroupVersion::V2 && !plan.controllers.is_empty() {
            let mount = mounted
                .iter()
                .find(|h| h.unified && folder.starts_with(&h.mount))
                .map(|h| h.mount.clone());
            if let Some(mount) = mount {
                let enable: String = plan.controllers.iter().map(|c| format!("+{c} ")).collect();
                for dir in [mount.as_path(), parent] {
                    let file = dir.join("cgroup.subtree_control");
                    write_file(&file, enable.trim_end())?;
                }
            }
        }
    }
    match fs::create_dir(folder) {
        Ok(()) => Ok(()),
        // A crashed create of the same name left it: reuse it (it is ours by name).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).at(folder),
    }
}

/// Writes the plan's limit files; returns the optional ones skipped (file absent) with why.
pub fn write_limits(
    plan: &CgroupPlan,
    folders: &[PathBuf],
    mounted: &[Hierarchy],
) -> Result<Vec<String>, CgroupError> {
    let mut skipped = Vec::new();
    for w in &plan.writes {
        let Some(dir) = folder_for(folders, mounted, w.controller.as_deref()) else {
            return Err(CgroupError::NoHierarchy {
                controller: w.needs_controller().to_string(),
                version: plan.version,
            });
        };
        let file = dir.join(&w.file);
        match write_file(&file, &w.value) {
            Ok(()) => {}
            Err(CgroupError::Io { source, .. })
                if !w.required && source.kind() == io::ErrorKind::NotFound =>
            {
                skipped.push(format!("{}: the kernel does not account swap", w.file));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(skipped)
}

/// Moves `pid` into every folder (writes it to `cgroup.procs`).
pub fn add_process(folders: &[PathBuf], pid: i32) -> Result<(), CgroupError> {
    for dir in folders {
        write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// The PIDs in a cgroup folder (empty if it is gone).
pub fn pids(folder: &Path) -> Result<Vec<i32>, CgroupError> {
    let file = folder.join("cgroup.procs");
    match fs::read_to_string(&file) {
        Ok(t) => Ok(t.lines().filter_map(|l| l.trim().parse().ok()).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).at(&file),
    }
}

/// Sends `signal` to every process in the folder.
pub fn signal_all(folder: &Path, signal: nix::sys::signal::Signal) -> Result<(), CgroupError> {
    for pid in pids(folder)? {
        // A process that exited meanwhile is what we want anyway.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
    Ok(())
}

/// Kills every process in the folder (`cgroup.kill` on v2 when present, else SIGKILL to
/// each PID until `cgroup.procs` stays empty), then removes the folder. A missing folder
/// is fine (a crashed create recorded it before making it).
pub fn destroy(folder: &Path) -> Result<(), CgroupError> {
    if !folder.exists() {
        return Ok(());
    }
    let kill_file = folder.join("cgroup.kill");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if kill_file.exists() {
            let _ = write_file(&kill_file, "1");
        }
        let left = pids(folder)?;
        if left.is_empty() {
            break;
        }
        signal_all(folder, nix::sys::signal::Signal::SIGKILL)?;
        if Instant::now() > deadline {
            return Err(CgroupError::NotEmpty {
                path: folder.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Exiting tasks leave the cgroup a moment after they leave cgroup.procs: retry EBUSY.
    loop {
        match fs::remove_dir(folder) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e).at(folder),
        }
    }
    // The shared parent goes when this was the last environment (EBUSY otherwise).
    if let Some(parent) = folder.parent() {
        let _ = fs::remove_dir(parent);
    }
    Ok(())
}

fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    let mut f = fs::OpenOptions::new().write(true).open(path).at(path)?;
    f.write_all(value.as_bytes()).at(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::cgroup::{CgroupWrite, DevicePolicy};

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    fn plan(version: CgroupVersion, controllers: &[&str]) -> CgroupPlan {
        CgroupPlan {
            version,
            path: "stockade/web".into(),
            controllers: controllers.iter().map(|s| s.to_string()).collect(),
            writes: vec![CgroupWrite {
                controller: Some("cpu".into()),
                file: "cpu.cfs_quota_us".into(),
                value: "150000".into(),
                required: true,
            }],
            devices: DevicePolicy::standard(),
        }
    }

    #[test]
    fn hybrid_host_uses_one_folder_per_hierarchy() {
        let h = hierarchies(HYBRID);
        assert_eq!(h.len(), 6);
        let f = folders(&plan(CgroupVersion::V1, &["cpu", "cpuacct", "devices"]), &h).unwrap();
        assert_eq!(
            f,
            [
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/stockade/web"),
                PathBuf::from("/sys/fs/cgroup/devices/stockade/web"),
                PathBuf::from("/sys/fs/cgroup/pids/stockade/web"),
            ]
        );
        assert_eq!(
            folder_for(&f, &h, Some("cpu")).unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/stockade/web")
        );
        let v2 = folders(&plan(CgroupVersion::V2, &[]), &h).unwrap();
        assert_eq!(v2, [PathBuf::from("/sys/fs/cgroup/unified/stockade/web")]);
    }

    #[test]
    fn missing_controller_is_named() {
        let h = hierarchies(HYBRID);
        let err = folders(&plan(CgroupVersion::V1, &["hugetlb"]), &h).unwrap_err();
        assert!(err.to_string().contains("hugetlb"), "{err}");
    }
}
