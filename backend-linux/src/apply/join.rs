//! `exec`: running a command inside a running environment — setns(2) into the namespaces
//! of its first process (`/proc/PID/ns/*`, namespaces(7)), joining its cgroups, then the
//! same identity, capabilities, no_new_privs, rlimits and seccomp filter as its first
//! process.
//!
//! A PID namespace applies to children only, so a forked helper joins the namespaces and
//! clones the command's process as a sibling (`CLONE_PARENT`): the caller waits for it
//! directly and forwards signals to it. The helper is made non-dumpable before it joins
//! anything (see the runtime's CVE-2019-5736 notes): between setns and execve the new
//! process runs stockade's code inside the environment's PID namespace.

use std::fs;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use stockade_core::backend::Foreground;
use stockade_core::state::{Exit, LifecycleError, StateStore};

use super::process::{self, EXIT_STOCKADE};
use super::runtime::{self, Relay, RuntimeError};
use super::spawn;
use super::sys::{self, Forked};
use super::{cgroup, proc};

/// The namespaces joined, in order: the mount namespace last, because joining it changes
/// the root the others' paths would resolve in (the fds are all opened first anyway).
/// The user namespace (rootless) comes first: it owns the others, and joining it gives
/// the capabilities that joining them needs.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("user", CloneFlags::CLONE_NEWUSER),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Runs `command` in the environment `name`, in the foreground; returns how it ended.
pub fn exec(
    store: &StateStore,
    name: &str,
    command: &[String],
    fg: Foreground,
) -> Result<Exit, RuntimeError> {
    let cfg = runtime::read_process_config(&store.dir(name))?;
    match exec_with(store, name, cfg, command, fg, false)? {
        Joined::Exited(exit) => Ok(exit),
        Joined::Detached { pid, .. } => Err(RuntimeError::Sys {
            what: format!("exec {pid}"),
            source: io::Error::other("a foreground exec came back detached"),
        }),
    }
}

/// How a joined process ended, or that it was left running.
#[derive(Debug)]
pub enum Joined {
    /// The caller waited for it.
    Exited(Exit),
    /// `detach`: it runs, as the caller's child.
    Detached {
        /// Its host PID.
        pid: Pid,
        /// The master of its terminal, when one was asked for (the caller hands it on).
        master: Option<OwnedFd>,
    },
}

/// Runs `command` in the environment `name` with the process configuration `cfg` (the
/// OCI `exec --process` one, or the environment's own). With `detach` the process is left
/// running as the caller's child and its PID (and terminal master) returned; otherwise
/// the caller waits, relaying the terminal if `fg.terminal`.
pub fn exec_with(
    store: &StateStore,
    name: &str,
    cfg: process::ProcessConfig,
    command: &[String],
    fg: Foreground,
    detach: bool,
) -> Result<Joined, RuntimeError> {
    let state = runtime::live_state(store, name)?;
    let (Some(pid), Some(start)) = (state.pid, state.pid_start_time) else {
        return Err(RuntimeError::from(LifecycleError::NotRunning {
            name: name.into(),
            status: "unknown".into(),
        }));
    };
    let folders: Vec<PathBuf> = state
        .resources
        .iter()
        .filter_map(|r| match r {
            stockade_core::state::Resource::Cgroup { path } => Some(path.clone()),
            _ => None,
        })
        .collect();

    // Open every namespace the environment does not share with us, then check that the
    // PID still is the environment's process: the fds then surely are its namespaces.
    let mut namespaces: Vec<(OwnedFd, CloneFlags)> = Vec::new();
    for (ns, flag) in NAMESPACES {
        let theirs = format!("/proc/{pid}/ns/{ns}");
        let ours = format!("/proc/self/ns/{ns}");
        let same = match (fs::metadata(&theirs), fs::metadata(&ours)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if same {
            continue;
        }
        let fd = nix::fcntl::open(
            theirs.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RuntimeError::Sys {
            what: theirs.clone(),
            source: e.into(),
        })?;
        namespaces.push((fd, *flag));
    }
    if !proc::is_alive(pid, start) {
        return Err(RuntimeError::from(LifecycleError::NotRunning {
            name: name.into(),
            status: "stopped".into(),
        }));
    }

    // The environment's CPU mask (limits.visible narrows it without a cpuset cgroup), so
    // what exec starts counts the same CPUs as the first process.
    let affinity = nix::sched::sched_getaffinity(Pid::from_raw(pid)).ok();
    let relay = if detach {
        None
    } else {
        Some(Relay::install()?)
    };
    let (pid_r, pid_w) = spawn::pipe().map_err(sys_err("pipe"))?;
    let (report_r, report_w) = spawn::pipe().map_err(sys_err("pipe"))?;
    // The command's terminal comes back over this socket (opened inside, see spawn).
    let terminal = if fg.terminal {
        let (ours, theirs) = UnixStream::pair().map_err(sys_err("socketpair"))?;
        Some((OwnedFd::from(ours), OwnedFd::from(theirs)))
    } else {
        None
    };
    let (term_ours, term_theirs) = terminal.unzip();
    let argv = command.to_vec();

    match sys::fork().map_err(sys_err("fork"))? {
        Forked::Child => {
            drop((pid_r, report_r, term_ours));
            let mut keep: Vec<RawFd> = vec![pid_w.as_raw_fd(), report_w.as_raw_fd()];
            keep.extend(term_theirs.as_ref().map(|f| f.as_raw_fd()));
            keep.extend(namespaces.iter().map(|(fd, _)| fd.as_raw_fd()));
            spawn::close_all_but(&keep);
            let report = Some(&report_w);
            let _ = nix::sys::prctl::set_dumpable(false);
            if let Err(e) = cgroup::add_process(&folders, 0) {
                process::fail(report, EXIT_STOCKADE, &format!("join the cgroup: {e}"));
            }
            if let Some(set) = &affinity {
                if let Err(e) = nix::sched::sched_setaffinity(Pid::from_raw(0), set) {
                    process::fail(report, EXIT_STOCKADE, &format!("sched_setaffinity: {e}"));
                }
            }
            for (fd, flag) in &namespaces {
                if let Err(e) = nix::sched::setns(fd.as_fd(), *flag) {
                    process::fail(report, EXIT_STOCKADE, &format!("setns {flag:?}: {e}"));
                }
            }
            drop(namespaces);
            match sys::clone3(0, None, true) {
                Ok(Forked::Child) => {
                    drop(pid_w);
                    let (ids, home) = match process::resolve_user(&cfg.user) {
                        Ok(v) => v,
                        Err(e) => process::fail(report, EXIT_STOCKADE, &e.to_string()),
                    };
                    if let Err(e) = process::enter_cwd(&cfg.cwd) {
                        process::fail(report, EXIT_STOCKADE, &e.to_string());
                    }
                    if let Some(sock) = &term_theirs {
                        if let Err(e) = spawn::take_terminal(sock.as_fd(), ids) {
                            process::fail(report, EXIT_STOCKADE, &e);
                        }
                    }
                    drop(term_theirs);
                    if let Err(e) = process::drop_privileges(&cfg, ids) {
                        process::fail(report, EXIT_STOCKADE, &e.to_string());
                    }
                    let env = process::environment(&cfg, home.as_deref());
                    process::exec(&cfg, &argv, &env, report)
                }
                Ok(Forked::Parent(child)) => {
                    let mut f = fs::File::from(pid_w);
                    let _ = f.write_all(&child.as_raw().to_ne_bytes());
                    sys::exit_now(0)
                }
                Err(e) => process::fail(report, EXIT_STOCKADE, &format!("clone3: {e}")),
            }
        }
        Forked::Parent(helper) => {
            drop((pid_w, report_w, term_theirs));
            drop(namespaces);
            let mut buf = [0u8; 4];
            let got = spawn::read_full(&pid_r, &mut buf);
            let _ = waitpid(helper, None);
            if !matches!(got, Ok(4)) {
                // The helper failed before the command's process existed: its report says why.
                let msg =
                    spawn::read_report(report_r).unwrap_or_else(|| "the exec helper died".into());
                return Err(RuntimeError::Setup(msg));
            }
            let child = Pid::from_raw(i32::from_ne_bytes(buf));
            let Some(relay) = relay else {
                let master = match term_ours {
                    None => None,
                    Some(sock) => {
                        let mut tag = [0u8; 1];
                        match stockade_term::fdpass::recv(sock.as_fd(), &mut tag) {
                            Ok(Some((master, _))) => Some(master),
                            _ => {
                                let msg = spawn::read_report(report_r)
                                    .unwrap_or_else(|| "no terminal came back".into());
                                return Err(RuntimeError::Setup(msg));
                            }
                        }
                    }
                };
                return Ok(Joined::Detached { pid: child, master });
            };
            let session = match term_ours {
                None => None,
                Some(sock) => {
                    let mut tag = [0u8; 1];
                    match stockade_term::fdpass::recv(sock.as_fd(), &mut tag) {
                        Ok(Some((master, _))) => Some(
                            stockade_term::relay::Session::start(master)
                                .map_err(sys_err("relay the terminal"))?,
                        ),
                        // The command's process failed before it had a terminal: its
                        // report and status say why.
                        _ => None,
                    }
                }
            };
            let exit = runtime::wait_foreground(child, &relay, &folders, Some(report_r));
            if let Some(s) = session {
                s.finish();
            }
            exit.map(Joined::Exited)
        }
    }
}

fn sys_err(what: &'static str) -> impl FnOnce(io::Error) -> RuntimeError {
    move |source| RuntimeError::Sys {
        what: what.into(),
        source,
    }
}
