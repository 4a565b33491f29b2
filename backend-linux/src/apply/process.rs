//! The environment's process, child side: who it runs as and what it may do, then
//! execve(2) — setrlimit(2), the capability sets (capabilities(7), capset(2),
//! `PR_CAPBSET_DROP`), setgroups(2)/setresgid(2)/setresuid(2), `PR_SET_NO_NEW_PRIVS`
//! (prctl(2)), close_range(2), the seccomp filter, execve(2).
//!
//! The order is the one runc uses and each step depends on the one before: rlimits while
//! still privileged (raising a hard limit needs CAP_SYS_RESOURCE); the bounding set while
//! CAP_SETPCAP is held; the identity with `PR_SET_KEEPCAPS` so that the permitted set
//! survives setuid; the final capability sets; no_new_privs; fds closed; the seccomp
//! filter last, because it may deny calls the steps before need.
//!
//! An exec failure is reported to the parent over a close-on-exec pipe (a successful
//! execve closes it: EOF means success) and ends the process with 126 (found but not
//! executable) or 127 (not found), as shells, docker and podman do.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use serde::{Deserialize, Serialize};
use stockade_core::spec::User;

use super::{seccomp, sys};
use crate::plan::seccomp::SeccompPlan;
use crate::plan::LinuxPlan;

/// Exit code when the command exists but cannot be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// Exit code when the command is not found.
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit code of stockade's own failures.
pub const EXIT_STOCKADE: i32 = 125;

/// What the environment's processes run with: the part of the plan `exec` needs again,
/// saved as `process.json` in the state folder (plans are write-only data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    /// argv of the first process.
    pub argv: Vec<String>,
    /// The full environment.
    pub env: BTreeMap<String, String>,
    /// Take `HOME` from the user's /etc/passwd entry.
    pub home_from_passwd: bool,
    /// Working directory inside the root.
    pub cwd: PathBuf,
    /// Who to run as: `uid:gid` or names, resolved inside the root.
    pub user: UserConfig,
    /// Host name (set once, at create).
    pub hostname: String,
    /// Whether a reaper runs as PID 1.
    pub init: bool,
    /// Capability sets, by `CAP_*` name.
    pub caps: CapSets,
    /// Set `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privs: bool,
    /// `(resource, soft, hard)`.
    pub rlimits: Vec<(String, u64, u64)>,
    /// Seccomp: denied syscall names and the errno they fail with; `None` = unconfined.
    pub seccomp: Option<SeccompConfig>,
    /// A complete seccomp profile (from an OCI config.json), loaded instead of `seccomp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<crate::plan::seccomp_profile::SeccompProfile>,
    /// Supplementary groups (setgroups(2)); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<u32>,
    /// The file mode creation mask, when the config sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    /// `/proc/self/oom_score_adj`, when the config sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
}

/// Capability sets by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CapSets {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub permitted: Vec<String>,
    pub inheritable: Vec<String>,
    pub ambient: Vec<String>,
}

/// The user to run as, as written in the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UserConfig {
    /// Numeric ids.
    Id {
        /// uid.
        uid: u32,
        /// gid.
        gid: u32,
    },
    /// Names, looked up in the root's /etc/passwd and /etc/group.
    Name {
        /// User name.
        user: String,
        /// Group name.
        group: Option<String>,
    },
}

/// The seccomp filter's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompConfig {
    /// Denied syscall names.
    pub denied: Vec<String>,
    /// The errno they fail with (`EPERM`).
    pub errno: String,
}

impl ProcessConfig {
    /// The process part of a plan.
    pub fn from_plan(plan: &LinuxPlan) -> ProcessConfig {
        let p = &plan.process;
        let c = &plan.capabilities;
        ProcessConfig {
            argv: p.argv.clone(),
            env: p.env.clone(),
            home_from_passwd: p.home_from_passwd,
            cwd: p.cwd.clone(),
            user: match &p.user {
                User::Id { uid, gid } => UserConfig::Id {
                    uid: *uid,
                    gid: *gid,
                },
                User::Name { user, group } => UserConfig::Name {
                    user: user.clone(),
                    group: group.clone(),
                },
            },
            hostname: p.hostname.clone(),
            init: p.init,
            caps: CapSets {
                bounding: c.bounding.clone(),
                effective: c.effective.clone(),
                permitted: c.permitted.clone(),
                inheritable: c.inheritable.clone(),
                ambient: c.ambient.clone(),
            },
            no_new_privs: c.no_new_privs,
            rlimits: plan
                .rlimits
                .iter()
                .map(|r| (r.resource.clone(), r.soft, r.hard))
                .collect(),
            seccomp_profile: match &plan.seccomp {
                SeccompPlan::Profile(p) => Some(p.clone()),
                _ => None,
            },
            groups: p.groups.clone(),
            umask: plan.extra.umask,
            oom_score_adj: plan.extra.oom_score_adj,
            seccomp: match &plan.seccomp {
                SeccompPlan::Unconfined | SeccompPlan::Profile(_) => None,
                SeccompPlan::Filter(policy) => Some(SeccompConfig {
                    denied: policy.denied.clone(),
                    errno: match &policy.deny_action {
                        crate::plan::seccomp::SeccompAction::Errno { errno } => errno.clone(),
                        crate::plan::seccomp::SeccompAction::Allow => "EPERM".into(),
                    },
                }),
            },
        }
    }
}

/// A failure on the child side, before the command runs.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A user or group name is not in the root's files.
    #[error("user {0:?}: not found in the environment's /etc/passwd or /etc/group")]
    UnknownUser(String),
    /// Reading /etc/passwd or /etc/group failed.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The working directory cannot be entered.
    #[error("process.cwd {}: {source} (create it in the root, or change process.cwd)", path.display())]
    Cwd {
        /// The cwd.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A privilege step failed.
    #[error("{what}: {source}")]
    Privilege {
        /// The step.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// An unknown capability or resource name.
    #[error("unknown {0}")]
    Unknown(String),
    /// The seccomp filter.
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    /// A resource limit.
    #[error(transparent)]
    Rlimit(#[from] super::rlimit::RlimitError),
    /// A string with a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
}

fn privilege(what: &str) -> impl FnOnce(Errno) -> ProcessError + '_ {
    move |e| ProcessError::Privilege {
        what: what.to_string(),
        source: e.into(),
    }
}

/// A user resolved to numbers (inside the root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
}

/// Resolves the user in the current root's /etc/passwd and /etc/group (call after the
/// pivot, so the environment's files are read). Returns the ids and the passwd home.
pub fn resolve_user(user: &UserConfig) -> Result<(Ids, Option<String>), ProcessError> {
    match user {
        UserConfig::Id { uid, gid } => Ok((
            Ids {
                uid: *uid,
                gid: *gid,
            },
            passwd_home(*uid),
        )),
        UserConfig::Name { user, group } => {
            let passwd = read_etc("/etc/passwd")?;
            let entry = passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 6 && f[0] == user)
                .ok_or_else(|| ProcessError::UnknownUser(user.clone()))?;
            let uid = entry[2]
                .parse()
                .map_err(|_| ProcessError::UnknownUser(user.clone()))?;
            let mut gid = entry[3]
                .parse()
                .map_err(|_| ProcessError::UnknownUser(user.clone()))?;
            let home = Some(entry[5].to_string());
            if let Some(g) = group {
                gid = match g.parse() {
                    Ok(n) => n,
                    Err(_) => {
                        let groups = read_etc("/etc/group")?;
                        groups
                            .lines()
                            .map(|l| l.split(':').collect::<Vec<_>>())
                            .find(|f| f.len() >= 3 && f[0] == g)
                            .and_then(|f| f[2].parse().ok())
                            .ok_or_else(|| ProcessError::UnknownUser(format!("{user}:{g}")))?
                    }
                };
            }
            Ok((Ids { uid, gid }, home))
        }
    }
}

fn passwd_home(uid: u32) -> Option<String> {
    let text = fs::read_to_string("/etc/passwd").ok()?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2] == uid.to_string())
        .map(|f| f[5].to_string())
}

fn read_etc(path: &str) -> Result<String, ProcessError> {
    fs::read_to_string(path).map_err(|source| ProcessError::Read {
        path: path.into(),
        source,
    })
}

/// Enters `cwd`, resolved inside the current root (`openat2` with `RESOLVE_IN_ROOT`): the
/// working directory can never be outside the environment.
pub fn enter_cwd(cwd: &Path) -> Result<(), ProcessError> {
    let err = |source: io::Error| ProcessError::Cwd {
        path: cwd.to_path_buf(),
        source,
    };
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(e.into()))?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = nix::fcntl::openat2(root.as_fd(), cwd, how).map_err(|e| err(e.into()))?;
    nix::unistd::fchdir(fd.as_fd()).map_err(|e| err(e.into()))
}

/// Drops to the configured identity and privileges. Runs as root in the environment, after
/// the pivot; everything it changes is per process and is inherited by the command.
pub fn drop_privileges(cfg: &ProcessConfig, ids: Ids) -> Result<(), ProcessError> {
    if let Some(adj) = cfg.oom_score_adj {
        // Before the identity changes: lowering it needs CAP_SYS_RESOURCE.
        fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|source| {
            ProcessError::Privilege {
                what: format!("oom_score_adj {adj}"),
                source,
            }
        })?;
    }
    for (name, soft, hard) in &cfg.rlimits {
        super::rlimit::set(&crate::plan::rlimit::Rlimit {
            resource: name.clone(),
            soft: *soft,
            hard: *hard,
        })?;
    }

    let set = |names: &[String]| -> Result<caps::CapsHashSet, ProcessError> {
        names
            .iter()
            .map(|n| {
                n.parse::<caps::Capability>()
                    .map_err(|_| ProcessError::Unknown(format!("capability {n}")))
            })
            .collect()
    };
    let bounding = set(&cfg.caps.bounding)?;
    for cap in caps::all() {
        if !bounding.contains(&cap) {
            caps::drop(None, caps::CapSet::Bounding, cap).map_err(|e| ProcessError::Privilege {
                what: format!("drop {cap} from the bounding set"),
                source: io::Error::other(e.to_string()),
            })?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).map_err(privilege("PR_SET_KEEPCAPS"))?;
    let groups: Vec<Gid> = cfg.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    if let Err(e) = nix::unistd::setgroups(&groups) {
        // Rootless with a directly written gid map: setgroups is denied, and the
        // namespace has no supplementary group to drop.
        if !groups.is_empty() || !super::userns::setgroups_denied() {
            return Err(privilege("setgroups")(e));
        }
    }
    let (gid, uid) = (Gid::from_raw(ids.gid), Uid::from_raw(ids.uid));
    nix::unistd::setresgid(gid, gid, gid).map_err(privilege("setresgid"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(privilege("setresuid"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(privilege("PR_SET_KEEPCAPS"))?;
    // Effective first: capset(2) refuses an effective set that is not a subset of the
    // permitted set, and both are replaced one at a time.
    // The kernel raises an ambient capability only if it is both permitted and
    // inheritable (PR_CAP_AMBIENT_RAISE, capabilities(7)). OCI configs routinely ask for
    // ambient ones with an empty inheritable set (`crun spec`'s template does): those are
    // left out, as runc and crun do, instead of failing the container.
    let mut ambient = set(&cfg.caps.ambient)?;
    let (permitted, inheritable) = (set(&cfg.caps.permitted)?, set(&cfg.caps.inheritable)?);
    ambient.retain(|cap| permitted.contains(cap) && inheritable.contains(cap));
    for (which, wanted) in [
        (caps::CapSet::Effective, set(&cfg.caps.effective)?),
        (caps::CapSet::Permitted, permitted),
        (caps::CapSet::Inheritable, inheritable),
        (caps::CapSet::Ambient, ambient),
    ] {
        caps::set(None, which, &wanted).map_err(|e| ProcessError::Privilege {
            what: format!("set the {which:?} capabilities"),
            source: io::Error::other(e.to_string()),
        })?;
    }
    if cfg.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(privilege("PR_SET_NO_NEW_PRIVS"))?;
    }
    // Changing credentials may have reset it; stockade code stays unreadable through
    // /proc/PID (exe, mem, fd) until execve replaces it (see the runtime's CVE notes).
    nix::sys::prctl::set_dumpable(false).map_err(privilege("PR_SET_DUMPABLE"))?;
    Ok(())
}

/// The environment of the command, with `HOME` from passwd when the plan asks.
pub fn environment(cfg: &ProcessConfig, home: Option<&str>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = cfg.env.clone().into_iter().collect();
    if cfg.home_from_passwd && !cfg.env.contains_key("HOME") {
        env.push(("HOME".into(), home.unwrap_or("/").into()));
    }
    env
}

/// The last step: mark every fd but stdio close-on-exec, load the seccomp filter, execve.
/// Never returns: on failure writes `<code> <message>` to `report` and exits with 126 or
/// 127 (125 for stockade's own failures).
pub fn exec(
    cfg: &ProcessConfig,
    argv: &[String],
    env: &[(String, String)],
    report: Option<&OwnedFd>,
) -> ! {
    let code_and_msg = exec_inner(cfg, argv, env);
    let (code, msg) = code_and_msg;
    fail(report, code, &msg)
}

/// Reports a failure over the pipe and exits.
pub fn fail(report: Option<&OwnedFd>, code: i32, msg: &str) -> ! {
    if let Some(fd) = report {
        let mut f = fs::File::from(fd.try_clone().unwrap_or_else(|_| sys::exit_now(code)));
        let _ = write!(f, "{code} {msg}");
    }
    sys::exit_now(code)
}

fn exec_inner(cfg: &ProcessConfig, argv: &[String], env: &[(String, String)]) -> (i32, String) {
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| (EXIT_STOCKADE, ProcessError::Nul(s.into()).to_string()))
    };
    let prepared = (|| {
        let args = argv
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = env
            .iter()
            .map(|(k, v)| cstr(&format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = match (&cfg.seccomp_profile, &cfg.seccomp) {
            (Some(p), _) => {
                Some(seccomp::compile_profile(p).map_err(|e| (EXIT_STOCKADE, e.to_string()))?)
            }
            (None, None) => None,
            (None, Some(s)) => Some(vec![seccomp::compile(
                &crate::plan::seccomp::SeccompPolicy {
                    default_action: crate::plan::seccomp::SeccompAction::Allow,
                    deny_action: crate::plan::seccomp::SeccompAction::Errno {
                        errno: s.errno.clone(),
                    },
                    denied: s.denied.clone(),
                    reallowed: Vec::new(),
                },
            )
            .map_err(|e| (EXIT_STOCKADE, e.to_string()))?]),
        };
        Ok::<_, (i32, String)>((args, envp, filter))
    })();
    let (args, envp, filter) = match prepared {
        Ok(p) => p,
        Err(e) => return e,
    };
    let Some(program) = argv.first() else {
        return (EXIT_STOCKADE, "empty command".into());
    };
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(crate::plan::process::DEFAULT_PATH, |(_, v)| v.as_str());
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(program))
            .collect()
    };
    if let Err(e) = sys::default_sigpipe() {
        return (EXIT_STOCKADE, format!("SIGPIPE: {e}"));
    }
    if let Err(e) = sys::close_range_cloexec(3) {
        return (EXIT_STOCKADE, format!("close_range: {e}"));
    }
    if let Some(mask) = cfg.umask {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }
    for f in filter.iter().flatten() {
        if let Err(e) = seccomp::load(f) {
            return (EXIT_STOCKADE, e.to_string());
        }
    }
    let mut denied: Option<Errno> = None;
    for path in &candidates {
        let Ok(c) = CString::new(OsStr::as_bytes(path.as_os_str())) else {
            continue;
        };
        let Err(e) = nix::unistd::execve(&c, &args, &envp);
        match e {
            Errno::ENOENT | Errno::ENOTDIR => continue,
            other => {
                denied = Some(other);
                if candidates.len() == 1 || other != Errno::EACCES {
                    break;
                }
            }
        }
    }
    match denied {
        Some(e) => (
            EXIT_NOT_EXECUTABLE,
            format!("{program}: cannot execute: {}", io::Error::from(e)),
        ),
        None => (EXIT_NOT_FOUND, format!("{program}: command not found")),
    }
}
