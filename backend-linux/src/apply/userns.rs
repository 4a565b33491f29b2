//! Rootless mode on the host side (user_namespaces(7), newuidmap(1), cgroups(7)
//! "Delegation"): who the caller is, writing the new user namespace's id maps, and where
//! a rootless environment's cgroup may go. The plan side is [`crate::plan::userns`].
//!
//! # Order
//! The first process is cloned into its user namespace (and the namespaces it owns) and
//! waits on the `mapped` pipe; the creator writes its maps, then releases it. Until then
//! the process stays dumpable: `/proc/PID/uid_map` of a non-dumpable process belongs to
//! root, and neither the caller nor newuidmap could open it. Nothing of the environment
//! can see it meanwhile (it is alone in its PID namespace), and it turns non-dumpable
//! before it builds anything.
//!
//! # cgroups
//! An unprivileged caller may only make cgroups where it was delegated one: its own
//! cgroup, writable by it (a `systemd-run --user --scope -p Delegate=yes` scope, or a
//! cgroup an administrator made and chowned to it). The environment's cgroup then goes
//! below it, as under a delegated systemd scope as root (`cgroup::place`). Without one, a
//! spec with limits is refused with the way to delegate; one without limits runs
//! without a cgroup (noted in the state: `stats` has no figures then).

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::Pid;

use super::cgroup::{self, place, CgroupError, Folder, Hierarchy};
use crate::plan::cgroup::CgroupPlan;
use crate::plan::userns::{parse_subid, IdMap, MapWriter, RootlessHost, UserNsPlan};

/// What rootless set-up can fail with.
#[derive(Debug, thiserror::Error)]
pub enum UserNsError {
    /// Writing a map or `setgroups` file.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// newuidmap / newgidmap failed.
    #[error(
        "{program} {args} failed ({status}): {stderr}; check the caller's ranges in \
         /etc/subuid and /etc/subgid"
    )]
    Helper {
        /// The program.
        program: &'static str,
        /// Its arguments.
        args: String,
        /// How it ended.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// Limits without a delegated cgroup.
    #[error(
        "the spec's limits ({files}) need a cgroup, and without root stockade may only make \
         one inside a cgroup delegated to you; yours, {}, is not writable by uid {uid}. \
         Delegate one: under systemd, run `systemd-run --user --scope -p Delegate=yes \
         stockade ...`; otherwise have root make a cgroup and give it to you (cgroup v2: \
         `mkdir /sys/fs/cgroup/NAME; chown -R {uid} /sys/fs/cgroup/NAME`, with the \
         controllers enabled in the parent's cgroup.subtree_control) and run stockade from \
         inside it (`echo $$ > /sys/fs/cgroup/NAME/cgroup.procs`). Or remove the limits",
        cgroup.display()
    )]
    NotDelegated {
        /// The limit files the plan writes.
        files: String,
        /// The caller's own cgroup.
        cgroup: PathBuf,
        /// The caller.
        uid: u32,
    },
    /// A cgroup operation.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// The caller when it is not root, with the subordinate ranges it may use; `None` as root.
pub fn detect() -> Option<RootlessHost> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return None;
    }
    let gid = nix::unistd::getegid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    let group = nix::unistd::Group::from_gid(gid)
        .ok()
        .flatten()
        .map(|g| g.name);
    let range = |file: &str, helper: &str, who: Option<&str>, id: u32| {
        find_helper(helper)?;
        parse_subid(&fs::read_to_string(file).ok()?, who, id)
    };
    Some(RootlessHost {
        uid: uid.as_raw(),
        gid: gid.as_raw(),
        subuid: range("/etc/subuid", "newuidmap", name.as_deref(), uid.as_raw()),
        // shadow's newgidmap looks the caller up by user name (or uid) in /etc/subgid too.
        subgid: range(
            "/etc/subgid",
            "newgidmap",
            name.as_deref().or(group.as_deref()),
            uid.as_raw(),
        ),
    })
}

/// Where a setuid helper is installed (the uidmap package puts them in /usr/bin).
fn find_helper(program: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// The state root of a rootless caller: `$XDG_RUNTIME_DIR/stockade`, else
/// `/tmp/stockade-<uid>` (the state store refuses it if someone else owns it).
pub fn default_state_root() -> Option<PathBuf> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return None;
    }
    Some(match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir).join("stockade"),
        _ => std::env::temp_dir().join(format!("stockade-{uid}")),
    })
}

/// Writes the id maps of `pid`'s user namespace as `plan` says.
pub fn write_maps(pid: Pid, plan: &UserNsPlan) -> Result<(), UserNsError> {
    write_map(pid, &plan.uid_map, plan.uid_writer, "uid_map", "newuidmap")?;
    if plan.denies_setgroups() {
        // Before gid_map: the kernel refuses an unprivileged gid_map otherwise.
        write_proc(pid, "setgroups", "deny")?;
    }
    write_map(pid, &plan.gid_map, plan.gid_writer, "gid_map", "newgidmap")
}

fn write_map(
    pid: Pid,
    maps: &[IdMap],
    writer: MapWriter,
    file: &str,
    helper: &'static str,
) -> Result<(), UserNsError> {
    match writer {
        MapWriter::Direct | MapWriter::Root => {
            let text: String = maps.iter().map(|m| format!("{m}\n")).collect();
            write_proc(pid, file, &text)
        }
        MapWriter::Helper => {
            let mut args = vec![pid.to_string()];
            for m in maps {
                args.extend([
                    m.inside.to_string(),
                    m.outside.to_string(),
                    m.count.to_string(),
                ]);
            }
            let program = find_helper(helper).unwrap_or_else(|| PathBuf::from(helper));
            let out = Command::new(&program).args(&args).output();
            let fail = |status: String, stderr: String| UserNsError::Helper {
                program: helper,
                args: args.join(" "),
                status,
                stderr,
            };
            match out {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => Err(fail(
                    o.status.to_string(),
                    String::from_utf8_lossy(&o.stderr).trim().to_string(),
                )),
                Err(e) => Err(fail("not run".into(), e.to_string())),
            }
        }
    }
}

fn write_proc(pid: Pid, file: &str, text: &str) -> Result<(), UserNsError> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    fs::write(&path, text).map_err(|source| UserNsError::Write { path, source })
}

/// In the first process: waits until the creator has written the maps (one byte); false
/// when the creator went away first.
pub fn wait_mapped(fd: OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(super::spawn::read_full(&fd, &mut byte), Ok(1))
}

/// True when this process's user namespace forbids setgroups(2) (`deny`): the gid map was
/// written without newgidmap, and the empty group list it would set is already the only
/// one the namespace has (the caller's supplementary groups show as the overflow gid).
pub fn setgroups_denied() -> bool {
    fs::read_to_string("/proc/self/setgroups").is_ok_and(|t| t.trim() == "deny")
}

/// The cgroup folders of a rootless environment: below the caller's own cgroup when it is
/// delegated (writable), none when it is not and the plan has no limit, else the
/// [`UserNsError::NotDelegated`] refusal.
pub fn cgroup_folders(
    plan: &CgroupPlan,
    mounted: &[Hierarchy],
    caller: &place::Caller,
) -> Result<Vec<Folder>, UserNsError> {
    let own = |h: &Hierarchy| -> PathBuf {
        let rel = caller.cgroup_in(h).map(place::relative).unwrap_or_default();
        // A second command in the same delegated cgroup finds the first one's leaf.
        if rel.file_name().is_some_and(|n| n == place::SUPERVISOR_LEAF) {
            rel.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            rel
        }
    };
    let base = |h: &Hierarchy| -> Result<PathBuf, CgroupError> {
        let rel = own(h);
        let dir = h.mount.join(&rel);
        if !rel.as_os_str().is_empty() && place::is_delegated(&dir) {
            Ok(rel)
        } else {
            Err(CgroupError::NotDelegated { cgroup: dir })
        }
    };
    let refused = match cgroup::folders(plan, mounted, &base) {
        Ok(f) => return Ok(f),
        Err(CgroupError::NotDelegated { cgroup }) => cgroup,
        Err(e) => return Err(e.into()),
    };
    if plan.writes.is_empty() {
        return Ok(Vec::new());
    }
    let files: Vec<&str> = plan.writes.iter().map(|w| w.file.as_str()).collect();
    Err(UserNsError::NotDelegated {
        files: files.join(", "),
        cgroup: refused,
        uid: nix::unistd::geteuid().as_raw(),
    })
}

/// The note a rootless environment without a cgroup gets.
pub const NO_CGROUP_NOTE: &str = "rootless without a delegated cgroup: the environment has \
     no cgroup of its own, so `stats` has no figures and `stop` signals its first process \
     only (run it in a delegated cgroup to have both)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::cgroup::CgroupWrite;
    use stockade_core::backend::CgroupVersion;

    fn plan(writes: Vec<CgroupWrite>) -> CgroupPlan {
        CgroupPlan {
            copies: Vec::new(),
            version: CgroupVersion::V2,
            path: "stockade/web".into(),
            controllers: if writes.is_empty() {
                vec![]
            } else {
                vec!["memory".into()]
            },
            writes,
            devices: crate::plan::cgroup::DevicePolicy { rules: vec![] },
        }
    }

    fn v2(tmp: &Path) -> Vec<Hierarchy> {
        vec![Hierarchy {
            mount: tmp.to_path_buf(),
            controllers: vec![],
            name: None,
            unified: true,
        }]
    }

    fn caller(path: &str) -> place::Caller {
        place::Caller {
            systemd: false,
            memberships: place::parse_proc_cgroup(&format!("0::{path}\n")),
        }
    }

    #[test]
    fn without_delegation_limits_are_refused_and_no_limits_mean_no_cgroup() {
        let tmp = tempfile::tempdir().unwrap();
        let write = CgroupWrite {
            controller: None,
            file: "memory.max".into(),
            value: "1000".into(),
            required: true,
        };
        // The hierarchy root is never "delegated", whatever its permissions.
        let err = cgroup_folders(&plan(vec![write]), &v2(tmp.path()), &caller("/")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("memory.max"), "{text}");
        assert!(text.contains("systemd-run --user --scope"), "{text}");
        assert!(text.contains("chown"), "{text}");
        let none = cgroup_folders(&plan(vec![]), &v2(tmp.path()), &caller("/")).unwrap();
        assert!(none.is_empty());
    }
}
