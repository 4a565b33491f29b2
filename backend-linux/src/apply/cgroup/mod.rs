//! The environment's control groups (cgroups(7)): finding the hierarchies in
//! `/proc/self/mountinfo` (proc(5)), making the environment's folder in each, writing the
//! plan's limit files, installing the device policy, placing its first process, reading
//! what it uses, and on delete killing what is left and removing the folders.
//!
//! On v2 there is one folder under the cgroup2 mount, and the controllers are enabled in
//! `cgroup.subtree_control` of each ancestor from the base down. On v1 (including hybrid
//! hosts where a cgroup2 with few or no controllers sits at `/sys/fs/cgroup/unified`)
//! there is one folder per controller hierarchy the plan writes to, plus the accounting
//! hierarchies `stats` reads ([`ACCOUNTING`]) when mounted; every hierarchy sees every
//! process, so killing through any one of them reaches all of the environment's
//! processes.
//!
//! - [`place`]: below which folder of each hierarchy (the root, or a systemd-delegated
//!   cgroup);
//! - [`device`]: the v2 device policy as a `BPF_PROG_TYPE_CGROUP_DEVICE` program;
//! - [`usage`]: `stats` figures and the out-of-memory verdict of an exit.

pub mod device;
pub mod place;
pub mod usage;

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
    /// Under systemd, the caller's cgroup is not delegated (see [`place`]).
    #[error(
        "stockade runs under systemd, in cgroup {}, which systemd has not delegated: \
         cgroups made there would be fought over by systemd. Run stockade in a delegated \
         scope: `systemd-run --scope -p Delegate=yes stockade ...`",
        cgroup.display()
    )]
    NotDelegated {
        /// The caller's cgroup folder.
        cgroup: PathBuf,
    },
    /// On v2, a controller the plan needs is not offered to the base cgroup.
    #[error(
        "cgroup controller {controller:?} is not available in {} (its cgroup.controllers \
         lacks it): enable it in the parent's cgroup.subtree_control (under systemd: \
         Delegate=yes, or Delegate={controller}), or remove the limit that needs it",
        base.display()
    )]
    NotAvailable {
        /// The controller.
        controller: String,
        /// The cgroup it should be available in.
        base: PathBuf,
    },
    /// The v2 device program could not be loaded or attached.
    #[error("{}: the device policy: {what}: {source}{log}", path.display())]
    Device {
        /// The environment's cgroup.
        path: PathBuf,
        /// The step (load, attach).
        what: &'static str,
        /// The cause.
        source: io::Error,
        /// The verifier's log, if any (starts with a newline).
        log: String,
    },
    /// A cgroup file holds something else than expected.
    #[error("{}: unexpected content {text:?}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it holds.
        text: String,
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
    /// v1: the name of a named hierarchy (`systemd` for `name=systemd`).
    pub name: Option<String>,
    /// True for cgroup2.
    pub unified: bool,
}

/// v1 hierarchies an environment joins even without a limit there, when mounted, so that
/// `stats` can read its memory, CPU time and process count.
pub const ACCOUNTING: &[&str] = &["memory", "cpuacct", "pids"];

/// v2 controllers enabled for every environment when available, for the same reason.
pub const V2_ACCOUNTING: &[&str] = &["cpu", "memory", "pids"];

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
                    name: None,
                    unified: true,
                }),
                "cgroup" => Some(Hierarchy {
                    mount,
                    controllers: options
                        .split(',')
                        .filter(|o| crate::probe::V1_CONTROLLERS.contains(o))
                        .map(str::to_string)
                        .collect(),
                    name: options
                        .split(',')
                        .find_map(|o| o.strip_prefix("name="))
                        .map(str::to_string),
                    unified: false,
                }),
                _ => None,
            }
        })
        .collect()
}

/// One environment cgroup folder: where it is, and the base it was made below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The folder (absolute).
    pub path: PathBuf,
    /// The folder `stockade/<name>` is made below: the hierarchy root, or a delegated
    /// cgroup (see [`place`]).
    pub base: PathBuf,
    /// The base is the hierarchy's root (exempt from v2's "no internal processes" rule).
    pub at_root: bool,
}

/// The environment's cgroup folders, in the order they are made: for v2 one, for v1 one
/// per hierarchy the plan's controllers live in, then the [`ACCOUNTING`] ones mounted
/// (never twice for co-mounted controllers like `cpu,cpuacct`). `base` places each
/// (see [`place::base_for`]).
pub fn folders(
    plan: &CgroupPlan,
    mounted: &[Hierarchy],
    base: &dyn Fn(&Hierarchy) -> Result<PathBuf, CgroupError>,
) -> Result<Vec<Folder>, CgroupError> {
    let folder = |h: &Hierarchy| -> Result<Folder, CgroupError> {
        let relative = base(h)?;
        let at_root = relative.as_os_str().is_empty();
        let base = h.mount.join(relative);
        Ok(Folder {
            path: base.join(&plan.path),
            base,
            at_root,
        })
    };
    match plan.version {
        CgroupVersion::V2 => {
            let h = mounted
                .iter()
                .find(|h| h.unified)
                .ok_or_else(|| CgroupError::NoHierarchy {
                    controller: "cgroup2".into(),
                    version: plan.version,
                })?;
            Ok(vec![folder(h)?])
        }
        CgroupVersion::V1 => {
            let mut out: Vec<Folder> = Vec::new();
            let needed = plan.controllers.iter().map(|c| (c.as_str(), true));
            let extra = ACCOUNTING.iter().map(|c| (*c, false));
            for (controller, required) in needed.chain(extra) {
                let Some(h) = mounted
                    .iter()
                    .find(|h| !h.unified && h.controllers.iter().any(|c| c == controller))
                else {
                    if required {
                        return Err(CgroupError::NoHierarchy {
                            controller: controller.to_string(),
                            version: plan.version,
                        });
                    }
                    continue;
                };
                if !out.iter().any(|f| f.path.starts_with(&h.mount)) {
                    out.push(folder(h)?);
                }
            }
            Ok(out)
        }
    }
}

/// The folder that holds `controller`'s files among `folders`.
fn folder_for<'a>(
    folders: &'a [Folder],
    mounted: &[Hierarchy],
    controller: Option<&str>,
) -> Option<&'a PathBuf> {
    match controller {
        None => folders.first().map(|f| &f.path),
        Some(c) => folders
            .iter()
            .find(|f| {
                mounted.iter().any(|h| {
                    !h.unified
                        && f.path.starts_with(&h.mount)
                        && h.controllers.iter().any(|x| x == c)
                })
            })
            .map(|f| &f.path),
    }
}

/// Makes one cgroup folder (and the shared `stockade` parent). On v2 also enables, in
/// `cgroup.subtree_control` of the base and of `stockade/`, the plan's controllers (an
/// error when the base is not offered one) and the [`V2_ACCOUNTING`] ones it is offered.
///
/// Another environment's delete removes the shared parent when it empties it, at any
/// moment until this folder exists in it (then it cannot): a parent that vanishes is made
/// again. The parent's controllers are enabled once this folder pins it, so they are the
/// ones this plan needs even if another create remade the parent meanwhile.
pub fn make(folder: &Folder, plan: &CgroupPlan) -> Result<(), CgroupError> {
    let Some(parent) = folder.path.parent() else {
        return Err(CgroupError::Io {
            path: folder.path.clone(),
            source: io::Error::from(io::ErrorKind::InvalidInput),
        });
    };
    let enable = match plan.version {
        CgroupVersion::V2 => controllers_to_enable(folder, plan)?,
        CgroupVersion::V1 => None,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        fs::create_dir_all(parent).at(parent)?;
        if let Some(line) = &enable {
            match write_file(&folder.base.join("cgroup.subtree_control"), line) {
                Err(CgroupError::Io { source, .. })
                    if source.kind() == io::ErrorKind::NotFound && attempts < 10 =>
                {
                    continue
                }
                other => other?,
            }
        }
        match fs::create_dir(&folder.path) {
            // A crashed create of the same name left it: reuse it (it is ours by name).
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 10 => continue,
            Err(e) => return Err(e).at(&folder.path),
        }
    }
    if let Some(line) = &enable {
        write_file(&parent.join("cgroup.subtree_control"), line)?;
    }
    Ok(())
}

/// The `+controller ...` line a v2 folder's ancestors need, after checking the base offers
/// every planned controller; `None` when there is none to enable. Moves stockade out of a
/// delegated base first (see [`place::vacate`]).
fn controllers_to_enable(
    folder: &Folder,
    plan: &CgroupPlan,
) -> Result<Option<String>, CgroupError> {
    let offered_file = folder.base.join("cgroup.controllers");
    let offered = fs::read_to_string(&offered_file).at(&offered_file)?;
    let offered: Vec<&str> = offered.split_whitespace().collect();
    if let Some(missing) = plan
        .controllers
        .iter()
        .find(|c| !offered.contains(&c.as_str()))
    {
        return Err(CgroupError::NotAvailable {
            controller: missing.clone(),
            base: folder.base.clone(),
        });
    }
    let mut enable: Vec<&str> = plan.controllers.iter().map(String::as_str).collect();
    enable.extend(V2_ACCOUNTING.iter().filter(|c| offered.contains(c)));
    enable.sort();
    enable.dedup();
    if enable.is_empty() {
        return Ok(None);
    }
    if !folder.at_root {
        // A delegated cgroup that holds stockade itself: move out of the way first.
        place::vacate(&folder.base)?;
    }
    let line: Vec<String> = enable.iter().map(|c| format!("+{c}")).collect();
    Ok(Some(line.join(" ")))
}

/// Writes the plan's limit files, after its copies from the parents
/// ([`crate::plan::cgroup::CgroupCopy`]); returns the optional writes skipped (file absent)
/// with why.
pub fn write_limits(
    plan: &CgroupPlan,
    folders: &[Folder],
    mounted: &[Hierarchy],
) -> Result<Vec<String>, CgroupError> {
    for c in &plan.copies {
        let Some(folder) = folder_for(folders, mounted, c.controller.as_deref())
            .and_then(|dir| folders.iter().find(|f| &f.path == dir))
        else {
            return Err(CgroupError::NoHierarchy {
                controller: c.controller.clone().unwrap_or_else(|| "cpuset".into()),
                version: plan.version,
            });
        };
        copy_down(folder, &c.file, &c.from)?;
    }
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
                skipped.push(format!(
                    "{}: {} is absent because the kernel does not account swap \
                     (CONFIG_MEMCG_SWAP off, or booted with swapaccount=0): swap is not \
                     limited, so the environment may use swap beyond limits.memory",
                    file.display(),
                    w.file
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(skipped)
}

/// Fills `file` of every folder from below the base down to the environment's with the
/// parent's `from`, where it is empty. Concurrent creates write the same text into the
/// shared `stockade/`, so the race is harmless.
fn copy_down(folder: &Folder, file: &str, from: &str) -> Result<(), CgroupError> {
    let relative = folder
        .path
        .strip_prefix(&folder.base)
        .map_err(|_| CgroupError::Parse {
            path: folder.path.clone(),
            text: format!("not below {}", folder.base.display()),
        })?;
    let mut parent = folder.base.clone();
    for part in relative.components() {
        let child = parent.join(part);
        let target = child.join(file);
        let current = fs::read_to_string(&target).at(&target)?;
        if current.trim().is_empty() {
            let source = parent.join(from);
            let value = fs::read_to_string(&source).at(&source)?;
            if !value.trim().is_empty() {
                write_file(&target, value.trim())?;
            }
        }
        parent = child;
    }
    Ok(())
}

/// Moves `pid` into every folder (writes it to `cgroup.procs`).
pub fn add_process<P: AsRef<Path>>(folders: &[P], pid: i32) -> Result<(), CgroupError> {
    for dir in folders {
        let dir = dir.as_ref();
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

pub(crate) fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
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
            copies: Vec::new(),
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

    fn at_root(_: &Hierarchy) -> Result<PathBuf, CgroupError> {
        Ok(PathBuf::new())
    }

    fn paths(f: &[Folder]) -> Vec<&Path> {
        f.iter().map(|f| f.path.as_path()).collect()
    }

    #[test]
    fn hybrid_host_uses_one_folder_per_hierarchy() {
        let h = hierarchies(HYBRID);
        assert_eq!(h.len(), 6);
        assert_eq!(h[4].name.as_deref(), Some("systemd"));
        assert!(h[4].controllers.is_empty(), "{:?}", h[4]);
        let f = folders(
            &plan(CgroupVersion::V1, &["cpu", "cpuacct", "devices"]),
            &h,
            &at_root,
        )
        .unwrap();
        // The planned hierarchies, then memory and pids for stats (cpuacct is co-mounted).
        assert_eq!(
            paths(&f),
            [
                Path::new("/sys/fs/cgroup/cpu,cpuacct/stockade/web"),
                Path::new("/sys/fs/cgroup/devices/stockade/web"),
                Path::new("/sys/fs/cgroup/memory/stockade/web"),
                Path::new("/sys/fs/cgroup/pids/stockade/web"),
            ]
        );
        assert!(f.iter().all(|f| f.at_root));
        assert_eq!(f[2].base, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(
            folder_for(&f, &h, Some("cpu")).unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/stockade/web")
        );
        let v2 = folders(&plan(CgroupVersion::V2, &[]), &h, &at_root).unwrap();
        assert_eq!(
            paths(&v2),
            [Path::new("/sys/fs/cgroup/unified/stockade/web")]
        );
    }

    #[test]
    fn missing_controller_is_named() {
        let h = hierarchies(HYBRID);
        let err = folders(&plan(CgroupVersion::V1, &["hugetlb"]), &h, &at_root).unwrap_err();
        assert!(err.to_string().contains("hugetlb"), "{err}");
    }

    #[test]
    fn folders_go_below_the_placement_base() {
        let h = hierarchies(HYBRID);
        let base = |h: &Hierarchy| -> Result<PathBuf, CgroupError> {
            Ok(if h.controllers == ["memory"] {
                PathBuf::from("system.slice/x.scope")
            } else {
                PathBuf::new()
            })
        };
        let f = folders(&plan(CgroupVersion::V1, &["memory"]), &h, &base).unwrap();
        assert_eq!(
            f[0].path,
            Path::new("/sys/fs/cgroup/memory/system.slice/x.scope/stockade/web")
        );
        assert!(!f[0].at_root);
        assert!(f[1].at_root);
        let refuse = |_: &Hierarchy| -> Result<PathBuf, CgroupError> {
            Err(CgroupError::NotDelegated {
                cgroup: "/x".into(),
            })
        };
        assert!(matches!(
            folders(&plan(CgroupVersion::V2, &[]), &h, &refuse),
            Err(CgroupError::NotDelegated { .. })
        ));
    }

    /// A v2 hierarchy root as a fixture: the files `make` reads and writes.
    fn v2_root(offered: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cgroup.controllers"), offered).unwrap();
        fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        fs::create_dir(root.path().join("stockade")).unwrap();
        fs::write(root.path().join("stockade/cgroup.subtree_control"), "").unwrap();
        root
    }

    #[test]
    fn v2_make_enables_planned_and_accounting_controllers() {
        let root = v2_root("cpuset cpu io memory pids\n");
        let folder = Folder {
            path: root.path().join("stockade/web"),
            base: root.path().to_path_buf(),
            at_root: true,
        };
        make(&folder, &plan(CgroupVersion::V2, &["io", "memory"])).unwrap();
        assert!(folder.path.is_dir());
        for dir in [root.path(), &root.path().join("stockade")] {
            assert_eq!(
                fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap(),
                "+cpu +io +memory +pids"
            );
        }
        // Made again after a crash: reused.
        make(&folder, &plan(CgroupVersion::V2, &["io", "memory"])).unwrap();
    }

    #[test]
    fn v2_make_names_a_controller_the_base_lacks() {
        let root = v2_root("cpu pids\n");
        let folder = Folder {
            path: root.path().join("stockade/web"),
            base: root.path().to_path_buf(),
            at_root: true,
        };
        let err = make(&folder, &plan(CgroupVersion::V2, &["memory"])).unwrap_err();
        assert!(matches!(err, CgroupError::NotAvailable { .. }), "{err:?}");
        assert!(err.to_string().contains("\"memory\""), "{err}");
        assert!(!folder.path.exists());
    }

    #[test]
    fn write_limits_skips_absent_swap_files_and_says_why() {
        let root = v2_root("memory\n");
        let folder = Folder {
            path: root.path().join("stockade/web"),
            base: root.path().to_path_buf(),
            at_root: true,
        };
        fs::create_dir(&folder.path).unwrap();
        fs::write(folder.path.join("memory.max"), "").unwrap();
        let mut p = plan(CgroupVersion::V2, &["memory"]);
        p.writes = vec![
            CgroupWrite {
                controller: None,
                file: "memory.max".into(),
                value: "1048576".into(),
                required: true,
            },
            CgroupWrite {
                controller: None,
                file: "memory.swap.max".into(),
                value: "0".into(),
                required: false,
            },
        ];
        let skipped = write_limits(&p, std::slice::from_ref(&folder), &[]).unwrap();
        assert_eq!(
            fs::read_to_string(folder.path.join("memory.max")).unwrap(),
            "1048576"
        );
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("memory.swap.max"), "{skipped:?}");
        assert!(skipped[0].contains("swapaccount=0"), "{skipped:?}");
        // A required file missing is an error with its path.
        p.writes[1].required = true;
        let err = write_limits(&p, &[folder], &[]).unwrap_err();
        assert!(err.to_string().contains("memory.swap.max"), "{err}");
    }
}
