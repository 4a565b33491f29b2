//! Where the environment's cgroups go: below which folder of each hierarchy
//! `stockade/<name>` is made (cgroups(7) `/proc/PID/cgroup`; systemd's "Control Group
//! APIs and Delegation", docs/CGROUP_DELEGATION.md).
//!
//! - **No systemd** (PID 1 is not `systemd`): below the hierarchy root,
//!   `/sys/fs/cgroup[/<controller>]/stockade/<name>`, whatever cgroup stockade itself runs
//!   in. Not below the caller's own cgroup, for three reasons. On v2 a cgroup that holds
//!   processes cannot enable controllers for its children (the "no internal processes"
//!   rule), and the caller sits in its own cgroup; the root is exempt. The environment
//!   outlives the command that made it (`create`, `run -d`), so nesting it in that
//!   command's cgroup — often one a supervisor made for the command (on the development
//!   host, the memory cgroup `/process_api/<id>`) — would make that cgroup impossible to
//!   remove while the environment lives. And one fixed place means every later command
//!   (`stats`, `delete`, a cleanup after a crash), run from any shell, finds the same
//!   folders; the absolute paths are recorded in state.json besides. Limits hold either
//!   way: a cgroup's limits apply wherever it sits.
//! - **systemd** (PID 1 is `systemd`): systemd owns the tree and removes or migrates what
//!   it did not make, except below a cgroup it has *delegated*. stockade then works below
//!   the cgroup it was started in (from `/proc/self/cgroup`, per hierarchy), and only if
//!   that cgroup is delegated: systemd marks those with the `trusted.delegate` extended
//!   attribute (`user.delegate` for a user manager); for a non-root caller, write access
//!   to the folder, its `cgroup.procs` and `cgroup.subtree_control` is the delegation.
//!   Otherwise the command fails and says to run it in a delegated scope
//!   (`systemd-run --scope -p Delegate=yes stockade ...`). On v2 the scope holds stockade
//!   itself, so before enabling controllers there stockade moves itself into a leaf,
//!   [`SUPERVISOR_LEAF`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{CgroupError, Hierarchy};

/// The leaf a process moves itself into when it must vacate a delegated v2 cgroup.
pub const SUPERVISOR_LEAF: &str = "stockade-supervisor";

/// One line of `/proc/<pid>/cgroup`: `ID:CONTROLLERS:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The hierarchy ID (0 for cgroup2).
    pub id: u32,
    /// The controllers (v1), or `name=<name>` for a named v1 hierarchy; empty for cgroup2.
    pub controllers: Vec<String>,
    /// The cgroup, relative to the hierarchy's root (starts with `/`).
    pub path: PathBuf,
}

/// Parses `/proc/<pid>/cgroup`; malformed lines are skipped (the kernel writes none).
pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?.parse().ok()?;
            let controllers = parts
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            let path = PathBuf::from(parts.next()?);
            Some(Membership {
                id,
                controllers,
                path,
            })
        })
        .collect()
}

/// What decides the placement: the init system and the caller's cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// PID 1 is systemd.
    pub systemd: bool,
    /// The caller's cgroups, one per hierarchy.
    pub memberships: Vec<Membership>,
}

impl Caller {
    /// Reads `<root>/proc/1/comm` and `<root>/proc/self/cgroup` (`root` is `/` but in
    /// tests). An unreadable `/proc/1/comm` (hidepid) counts as "not systemd".
    pub fn read(root: &Path) -> Result<Caller, CgroupError> {
        let comm = fs::read_to_string(root.join("proc/1/comm")).unwrap_or_default();
        let file = root.join("proc/self/cgroup");
        let text = fs::read_to_string(&file).map_err(|source| CgroupError::Io {
            path: file.clone(),
            source,
        })?;
        Ok(Caller {
            systemd: comm.trim() == "systemd",
            memberships: parse_proc_cgroup(&text),
        })
    }

    /// The caller's cgroup in hierarchy `h`.
    pub fn cgroup_in(&self, h: &Hierarchy) -> Option<&Path> {
        self.memberships
            .iter()
            .find(|m| {
                if h.unified {
                    m.id == 0 && m.controllers.is_empty()
                } else if let Some(name) = &h.name {
                    m.controllers == [format!("name={name}")]
                } else {
                    let mut a = m.controllers.clone();
                    let mut b = h.controllers.clone();
                    a.sort();
                    b.sort();
                    m.id != 0 && a == b
                }
            })
            .map(|m| m.path.as_path())
    }
}

/// The hierarchy systemd tracks processes in: cgroup2 when mounted (unified and hybrid
/// hosts), else the named v1 hierarchy `name=systemd`.
fn systemd_hierarchy(mounted: &[Hierarchy]) -> Option<&Hierarchy> {
    mounted.iter().find(|h| h.unified).or_else(|| {
        mounted
            .iter()
            .find(|h| h.name.as_deref() == Some("systemd"))
    })
}

/// The folder, relative to `h`'s mount, below which `stockade/<name>` is made (see the
/// module). `delegated` says whether a host folder is a delegated cgroup.
pub fn base_for(
    h: &Hierarchy,
    mounted: &[Hierarchy],
    caller: &Caller,
    delegated: &dyn Fn(&Path) -> bool,
) -> Result<PathBuf, CgroupError> {
    if !caller.systemd {
        return Ok(PathBuf::new());
    }
    // Delegation is decided on systemd's own tree, once for all hierarchies.
    let tracked = systemd_hierarchy(mounted).ok_or_else(|| CgroupError::NotDelegated {
        cgroup: PathBuf::from("(no systemd hierarchy mounted)"),
    })?;
    let own = caller
        .cgroup_in(tracked)
        .ok_or_else(|| CgroupError::NotDelegated {
            cgroup: tracked.mount.clone(),
        })?;
    let own_dir = tracked.mount.join(relative(own));
    if relative(own).as_os_str().is_empty() || !delegated(&own_dir) {
        return Err(CgroupError::NotDelegated { cgroup: own_dir });
    }
    let mine = caller
        .cgroup_in(h)
        .ok_or_else(|| CgroupError::NotDelegated {
            cgroup: h.mount.clone(),
        })?;
    // Never inside our own supervisor leaf (a second command in the same scope).
    let mine = relative(mine);
    let mine = if mine.file_name().is_some_and(|n| n == SUPERVISOR_LEAF) {
        mine.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        mine
    };
    Ok(mine)
}

/// `path` without its leading `/`.
pub(crate) fn relative(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_path_buf()
}

/// Whether `dir` is a cgroup delegated to us: systemd's `trusted.delegate` or
/// `user.delegate` attribute is `1`, or (not root) we may write the files a delegate
/// writes.
pub fn is_delegated(dir: &Path) -> bool {
    let marked = |name: &std::ffi::CStr| {
        super::super::sys::getxattr(dir, name)
            .ok()
            .flatten()
            .is_some_and(|v| v == b"1")
    };
    if marked(c"trusted.delegate") || marked(c"user.delegate") {
        return true;
    }
    if nix::unistd::geteuid().is_root() {
        // Root may write anywhere: permissions say nothing about delegation.
        return false;
    }
    let writable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    writable(dir)
        && writable(&dir.join("cgroup.procs"))
        && (!dir.join("cgroup.subtree_control").exists()
            || writable(&dir.join("cgroup.subtree_control")))
}

/// On v2, a non-root cgroup that holds processes cannot give controllers to children:
/// moves this process into `<base>/SUPERVISOR_LEAF` when `base` (a delegated cgroup, not
/// the hierarchy root) holds it.
pub fn vacate(base: &Path) -> Result<(), CgroupError> {
    let procs = base.join("cgroup.procs");
    let text = match fs::read_to_string(&procs) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                path: procs,
                source,
            })
        }
    };
    let me = std::process::id().to_string();
    if !text.lines().any(|l| l.trim() == me) {
        return Ok(());
    }
    let leaf = base.join(SUPERVISOR_LEAF);
    match fs::create_dir(&leaf) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(CgroupError::Io { path: leaf, source }),
    }
    super::write_file(&leaf.join("cgroup.procs"), "0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::cgroup::hierarchies;

    const HYBRID_MOUNTS: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// This development host: no systemd, the memory cgroup nested by a supervisor.
    const HYBRID_SELF: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/58b25defadf3a7e2a5e3909e22d52631
2:cpuacct:/
1:cpu:/
0::/
";

    const UNIFIED_MOUNTS: &str =
        "30 21 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

    fn caller(systemd: bool, text: &str) -> Caller {
        Caller {
            systemd,
            memberships: parse_proc_cgroup(text),
        }
    }

    #[test]
    fn parses_proc_cgroup() {
        let m = parse_proc_cgroup(HYBRID_SELF);
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].controllers, ["name=systemd"]);
        assert_eq!(
            m[2].path,
            Path::new("/process_api/58b25defadf3a7e2a5e3909e22d52631")
        );
        assert_eq!(m[5].id, 0);
        assert!(m[5].controllers.is_empty());
        let two = parse_proc_cgroup("5:cpu,cpuacct:/a\n");
        assert_eq!(two[0].controllers, ["cpu", "cpuacct"]);
    }

    #[test]
    fn without_systemd_every_hierarchy_uses_its_root() {
        let h = hierarchies(HYBRID_MOUNTS);
        let c = caller(false, HYBRID_SELF);
        let never = |_: &Path| panic!("delegation is not asked without systemd");
        for one in &h {
            assert_eq!(base_for(one, &h, &c, &never).unwrap(), PathBuf::new());
        }
    }

    #[test]
    fn systemd_v2_delegated_scope_is_the_base() {
        let h = hierarchies(UNIFIED_MOUNTS);
        let c = caller(true, "0::/system.slice/run-r1.scope\n");
        let yes = |p: &Path| p == Path::new("/sys/fs/cgroup/system.slice/run-r1.scope");
        assert_eq!(
            base_for(&h[0], &h, &c, &yes).unwrap(),
            PathBuf::from("system.slice/run-r1.scope")
        );
        // A second command already moved into the supervisor leaf: same base.
        let c = caller(
            true,
            &format!("0::/system.slice/run-r1.scope/{SUPERVISOR_LEAF}\n"),
        );
        let yes = |p: &Path| p.starts_with("/sys/fs/cgroup/system.slice/run-r1.scope");
        assert_eq!(
            base_for(&h[0], &h, &c, &yes).unwrap(),
            PathBuf::from("system.slice/run-r1.scope")
        );
    }

    #[test]
    fn systemd_without_delegation_says_to_use_systemd_run() {
        let h = hierarchies(UNIFIED_MOUNTS);
        let c = caller(true, "0::/user.slice/user-0.slice/session-3.scope\n");
        let err = base_for(&h[0], &h, &c, &|_| false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/sys/fs/cgroup/user.slice/user-0.slice/session-3.scope"),
            "{text}"
        );
        assert!(
            text.contains("systemd-run --scope -p Delegate=yes stockade"),
            "{text}"
        );
        // The root cgroup is never delegated.
        let c = caller(true, "0::/\n");
        assert!(base_for(&h[0], &h, &c, &|_| true).is_err());
    }

    #[test]
    fn systemd_v1_uses_the_callers_cgroup_per_controller() {
        let h = hierarchies(HYBRID_MOUNTS);
        let c = caller(
            true,
            "9:name=systemd:/system.slice/x.scope\n8:pids:/system.slice/x.scope\n\
             4:memory:/system.slice/x.scope\n2:cpuacct:/\n1:cpu:/\n\
             0::/system.slice/x.scope\n",
        );
        let yes = |p: &Path| p == Path::new("/sys/fs/cgroup/unified/system.slice/x.scope");
        let memory = h.iter().find(|x| x.controllers == ["memory"]).unwrap();
        assert_eq!(
            base_for(memory, &h, &c, &yes).unwrap(),
            PathBuf::from("system.slice/x.scope")
        );
        let cpu = h.iter().find(|x| x.controllers == ["cpu"]).unwrap();
        assert_eq!(base_for(cpu, &h, &c, &yes).unwrap(), PathBuf::new());
    }

    #[test]
    fn caller_from_a_fixture_root() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("proc/1")).unwrap();
        fs::create_dir_all(root.path().join("proc/self")).unwrap();
        fs::write(root.path().join("proc/1/comm"), "systemd\n").unwrap();
        fs::write(root.path().join("proc/self/cgroup"), "0::/a.scope\n").unwrap();
        let c = Caller::read(root.path()).unwrap();
        assert!(c.systemd);
        assert_eq!(c.memberships[0].path, Path::new("/a.scope"));
        fs::write(root.path().join("proc/1/comm"), "process_api\n").unwrap();
        assert!(!Caller::read(root.path()).unwrap().systemd);
    }

    #[test]
    fn vacate_moves_only_when_the_base_holds_us() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cgroup.procs"), "1\n2\n").unwrap();
        vacate(dir.path()).unwrap();
        assert!(!dir.path().join(SUPERVISOR_LEAF).exists());
        fs::write(
            dir.path().join("cgroup.procs"),
            format!("1\n{}\n", std::process::id()),
        )
        .unwrap();
        // A plain folder has no cgroup.procs in the new leaf: the write fails and says where.
        let err = vacate(dir.path()).unwrap_err();
        assert!(err.to_string().contains(SUPERVISOR_LEAF), "{err}");
    }
}
