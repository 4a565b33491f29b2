//! The OCI runtime lifecycle (runtime-spec `runtime.md`) over stockade's state store:
//! what `stockade oci create|start|state|kill|delete|run|list|ps|pause|resume` do.
//!
//! One state folder per container id under the OCI state root, the same store
//! `stockade create` uses, so `delete --force` undoes a create that crashed at any step.
//! The differences from `stockade create` are the engines' expectations:
//! - **No monitor.** The first process is the creator's child (`CLONE_PARENT` from the
//!   spawn helper); when `create` returns it is reparented to the nearest child
//!   subreaper: conmon or the containerd shim, which wait for it and read its exit status
//!   and OOM verdict themselves. A later `state` sees a dead (or zombie) process as
//!   `stopped` at once.
//! - **pid file** written (atomically) before `create` returns.
//! - **States** `created` (waiting on the exec fifo), `running`, `paused` (cgroup
//!   freezer), `stopped`, reported in the runtime-spec's state JSON.

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use stockade_core::backend::{CgroupVersion, CreateOptions, Foreground, Stdio};
use stockade_core::state::{Exit, LifecycleError, State, StateError, StateStore, Status};

use super::translate::{self, TranslateContext, TranslateError};
use crate::apply::process::{CapSets, UserConfig};
use crate::apply::runtime::{self as linux, Relay, RuntimeError};
use crate::apply::{cgroup, join, proc};
use crate::plan::extra::Hook;

pub use stockade_core::oci::{OciState, OCI_VERSION};

/// What an OCI command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OciRuntimeError {
    /// config.json cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// config.json is not valid JSON or not a runtime-spec configuration.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A key stockade cannot honour.
    #[error("{}: {source}", bundle.display())]
    Translate {
        /// The bundle.
        bundle: PathBuf,
        /// The key and why.
        source: TranslateError,
    },
    /// The Linux runtime.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The state store.
    #[error(transparent)]
    State(#[from] StateError),
    /// A file the command writes (the pid file).
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A status that forbids the command.
    #[error("container {id:?} is {status}: {what}")]
    Status {
        /// The container.
        id: String,
        /// Its status.
        status: &'static str,
        /// What cannot be done.
        what: &'static str,
    },
    /// A terminal was asked for in a way that cannot work.
    #[error("{0}")]
    Terminal(&'static str),
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> OciRuntimeError + '_ {
    move |source| OciRuntimeError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The OCI runtime on one state root.
#[derive(Debug, Clone)]
pub struct OciRuntime {
    store: StateStore,
    systemd_cgroup: bool,
}

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateArgs {
    /// The bundle folder (holds config.json).
    pub bundle: PathBuf,
    /// Where to write the first process's host PID.
    pub pid_file: Option<PathBuf>,
    /// The console socket (`--console-socket`).
    pub console_socket: Option<PathBuf>,
}

/// What `exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// A runtime-spec process (`--process FILE`), replacing the container's own settings.
    pub process: Option<oci_spec::runtime::Process>,
    /// Or the command, run with the container's settings.
    pub args: Vec<String>,
    /// Working directory override.
    pub cwd: Option<PathBuf>,
    /// Extra `NAME=value` variables.
    pub env: Vec<String>,
    /// `uid[:gid]` override.
    pub user: Option<String>,
    /// A terminal was asked for.
    pub tty: bool,
    /// Leave it running as the caller's child.
    pub detach: bool,
    /// Where to send the terminal's master (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// Write its host PID here.
    pub pid_file: Option<PathBuf>,
}

impl OciRuntime {
    /// The runtime on a state root (`--root`).
    pub fn new(root: impl Into<PathBuf>, systemd_cgroup: bool) -> Self {
        OciRuntime {
            store: StateStore::new(root.into()),
            systemd_cgroup,
        }
    }

    /// The state store.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// Reads and translates a bundle's config.json for container `id`.
    pub fn translate(
        &self,
        id: &str,
        bundle: &Path,
    ) -> Result<translate::Translated, OciRuntimeError> {
        let path = bundle.join("config.json");
        let text = fs::read_to_string(&path).map_err(|source| OciRuntimeError::Read {
            path: path.clone(),
            source,
        })?;
        let spec: oci_spec::runtime::Spec =
            serde_json::from_str(&text).map_err(|e| OciRuntimeError::Parse {
                path: path.clone(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        let host = crate::probe::probe_root(Path::new("/")).map_err(RuntimeError::from)?;
        let ctx = TranslateContext {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            cgroup: host.cgroup.unwrap_or(CgroupVersion::V2),
            systemd_cgroup: self.systemd_cgroup,
        };
        translate::translate(&spec, &ctx).map_err(|source| OciRuntimeError::Translate {
            bundle: bundle.to_path_buf(),
            source,
        })
    }

    /// `create`: makes the container, its process waiting for `start`; writes the pid
    /// file; returns the PID. The process is this process's child until it exits.
    pub fn create(&self, id: &str, args: &CreateArgs) -> Result<i32, OciRuntimeError> {
        let created = self.create_locked(id, args, false)?;
        Ok(created.pid.as_raw())
    }

    fn create_locked(
        &self,
        id: &str,
        args: &CreateArgs,
        start: bool,
    ) -> Result<linux::Created, OciRuntimeError> {
        let bundle = fs::canonicalize(&args.bundle).map_err(|source| OciRuntimeError::Read {
            path: args.bundle.clone(),
            source,
        })?;
        let translated = self.translate(id, &bundle)?;
        match (translated.terminal, &args.console_socket) {
            (true, None) => {
                return Err(OciRuntimeError::Terminal(
                    "process.terminal is true: pass --console-socket to receive the terminal",
                ))
            }
            (false, Some(_)) => {
                return Err(OciRuntimeError::Terminal(
                    "--console-socket needs process.terminal = true in config.json",
                ))
            }
            _ => {}
        }
        // Before anything is made: an engine that is not listening gets a clear error.
        let console = match &args.console_socket {
            None => None,
            Some(path) => {
                Some(
                    UnixStream::connect(path).map_err(|source| OciRuntimeError::Read {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
        };
        let annotations = annotations_of(&bundle);
        let annotations = annotations.as_object().cloned().unwrap_or_default();
        let mut record = stockade_core::oci::record(&bundle, annotations);
        record["oci"]["poststart"] = serde_json::json!(translated.poststart);
        record["oci"]["poststop"] = serde_json::json!(translated.poststop);
        let state = State::new(id.to_string(), Some(bundle.join("config.json")), record);
        let opts = CreateOptions {
            stdio: if translated.terminal {
                Stdio::Terminal
            } else {
                Stdio::Inherit
            },
            start,
        };
        let mut created = linux::create_planned(&translated.plan, state, &self.store, &opts, true)?;
        let handed = match (console, created.terminal.take()) {
            (Some(sock), Some(master)) => send_console(&sock, &master),
            _ => Ok(()),
        };
        let pid_file = match (&args.pid_file, handed) {
            (_, Err(e)) => Err(e),
            (Some(path), Ok(())) => write_pid_file(path, created.pid.as_raw()),
            (None, Ok(())) => Ok(()),
        };
        if let Err(e) = pid_file {
            let linux::Created { mut entry, pid, .. } = created;
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            let _ = linux::teardown(&mut entry);
            let _ = entry.remove();
            return Err(e);
        }
        Ok(created)
    }

    /// `start`: lets a created container's process run its command.
    pub fn start(&self, id: &str) -> Result<(), OciRuntimeError> {
        linux::start(&self.store, id)?;
        // poststart: after the command was released; a failure is reported, and the
        // container keeps running (runtime-spec: "log a warning").
        self.run_hooks(id, "poststart")
    }

    /// Runs the hooks recorded under `which` with the container's state on stdin.
    fn run_hooks(&self, id: &str, which: &str) -> Result<(), OciRuntimeError> {
        let record = self.store.peek(id)?;
        let hooks: Vec<Hook> =
            serde_json::from_value(record.spec["oci"][which].clone()).unwrap_or_default();
        if hooks.is_empty() {
            return Ok(());
        }
        let state = serde_json::to_string(&self.state(id)?).unwrap_or_default();
        crate::apply::hooks::run(&hooks, &state).map_err(RuntimeError::from)?;
        Ok(())
    }

    /// `run`: create, start, wait in the foreground (signals forwarded), delete; returns
    /// how the process ended. With `detach`, returns once it runs (exit status 0).
    pub fn run(
        &self,
        id: &str,
        args: &CreateArgs,
        detach: bool,
    ) -> Result<Option<Exit>, OciRuntimeError> {
        let relay = if detach {
            None
        } else {
            Some(Relay::install()?)
        };
        let created = self.create_locked(id, args, true)?;
        if detach {
            return Ok(None);
        }
        let linux::Created {
            entry, pid, report, ..
        } = created;
        let folders = linux::cgroup_folders(&entry.state);
        drop(entry);
        let relay = relay.ok_or(OciRuntimeError::Terminal("no signal relay"))?;
        let exit = linux::wait_foreground(pid, &relay, &folders, report);
        let cleanup = self.delete(id, true);
        let exit = exit?;
        cleanup?;
        Ok(Some(exit))
    }

    /// `exec`: another process in a running container, with its namespaces, cgroups and
    /// seccomp profile. Returns how it ended, or `None` when detached.
    pub fn exec(&self, id: &str, req: &ExecRequest) -> Result<Option<Exit>, OciRuntimeError> {
        let tty = req.tty
            || req
                .process
                .as_ref()
                .is_some_and(|p| p.terminal() == Some(true));
        if req.detach && tty && req.console_socket.is_none() {
            return Err(OciRuntimeError::Terminal(
                "exec --detach --tty needs --console-socket to hand the terminal to",
            ));
        }
        if req.console_socket.is_some() && !tty {
            return Err(OciRuntimeError::Terminal("--console-socket needs --tty"));
        }
        let state = self.store.peek(id)?;
        if status_of(&state) != "running" {
            return Err(OciRuntimeError::Status {
                id: id.into(),
                status: status_of(&state),
                what: "exec needs a running container",
            });
        }
        let mut cfg = linux::read_process_config(&self.store.dir(id))?;
        let argv = match &req.process {
            Some(p) => {
                let (plan, caps, rlimits, umask) = translate::process_part(p, String::new())
                    .map_err(|source| OciRuntimeError::Translate {
                        bundle: PathBuf::from("--process"),
                        source,
                    })?;
                cfg.env = plan.env;
                cfg.cwd = plan.cwd;
                cfg.user = match plan.user {
                    stockade_core::spec::User::Id { uid, gid } => UserConfig::Id { uid, gid },
                    stockade_core::spec::User::Name { user, group } => {
                        UserConfig::Name { user, group }
                    }
                };
                cfg.groups = plan.groups;
                cfg.caps = CapSets {
                    bounding: caps.bounding,
                    effective: caps.effective,
                    permitted: caps.permitted,
                    inheritable: caps.inheritable,
                    ambient: caps.ambient,
                };
                cfg.no_new_privs = caps.no_new_privs;
                cfg.rlimits = rlimits
                    .into_iter()
                    .map(|r| (r.resource, r.soft, r.hard))
                    .collect();
                cfg.umask = umask;
                cfg.oom_score_adj = p.oom_score_adj();
                plan.argv
            }
            None if req.args.is_empty() => {
                return Err(OciRuntimeError::Terminal(
                    "exec: name a command, or pass --process FILE",
                ))
            }
            None => req.args.clone(),
        };
        if let Some(cwd) = &req.cwd {
            cfg.cwd = cwd.clone();
        }
        for e in &req.env {
            if let Some((k, v)) = e.split_once('=') {
                cfg.env.insert(k.into(), v.into());
            }
        }
        if let Some(u) = &req.user {
            let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
            match (uid.parse(), gid.parse()) {
                (Ok(uid), Ok(gid)) => cfg.user = UserConfig::Id { uid, gid },
                _ => {
                    return Err(OciRuntimeError::Terminal(
                        "exec --user takes numeric uid[:gid]",
                    ))
                }
            }
        }
        cfg.init = false;
        let console = match &req.console_socket {
            None => None,
            Some(path) => {
                Some(
                    UnixStream::connect(path).map_err(|source| OciRuntimeError::Read {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
        };
        let fg = Foreground { terminal: tty };
        match join::exec_with(&self.store, id, cfg, &argv, fg, req.detach)? {
            join::Joined::Exited(exit) => Ok(Some(exit)),
            join::Joined::Detached { pid, master } => {
                let handed = match (console, master) {
                    (Some(sock), Some(m)) => send_console(&sock, &m),
                    _ => Ok(()),
                };
                let written = match (&req.pid_file, handed) {
                    (_, Err(e)) => Err(e),
                    (Some(path), Ok(())) => write_pid_file(path, pid.as_raw()),
                    (None, Ok(())) => Ok(()),
                };
                if let Err(e) = written {
                    let _ = kill(pid, Signal::SIGKILL);
                    return Err(e);
                }
                Ok(None)
            }
        }
    }

    /// `state`: the runtime-spec state, its status read from the kernel.
    pub fn state(&self, id: &str) -> Result<OciState, OciRuntimeError> {
        let state = self.store.peek(id)?;
        Ok(OciState::of(&state, status_of(&state)))
    }

    /// `list`: every container's state, by id.
    pub fn list(&self) -> Result<Vec<OciState>, OciRuntimeError> {
        let mut out = Vec::new();
        for id in self.store.names()? {
            if let Ok(s) = self.state(&id) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// `kill`: a signal to the first process, or with `all` to every process in the
    /// container's cgroup.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), OciRuntimeError> {
        let sig = linux::parse_signal(signal)?;
        let state = self.store.peek(id)?;
        let folders = linux::cgroup_folders(&state);
        if all {
            for f in &folders {
                cgroup::signal_all(f, sig).map_err(RuntimeError::from)?;
            }
            if sig == Signal::SIGKILL {
                // A frozen cgroup holds the SIGKILL until it is thawed.
                let _ = set_frozen(&folders, false);
            }
            return Ok(());
        }
        if !matches!(status_of(&state), "created" | "running" | "paused") {
            return Err(OciRuntimeError::Status {
                id: id.into(),
                status: "stopped",
                what: "there is no process to signal",
            });
        }
        let pid = state.pid.unwrap_or(0);
        kill(Pid::from_raw(pid), sig).map_err(|e| RuntimeError::Sys {
            what: format!("kill {pid} {sig}"),
            source: e.into(),
        })?;
        Ok(())
    }

    /// `delete`: removes a stopped (or created) container and everything made for it;
    /// `force` kills a running one first and succeeds when there is nothing to delete.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), OciRuntimeError> {
        let mut entry = match self.store.open(id, true) {
            Ok(e) => e,
            Err(StateError::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let status = status_of(&entry.state);
        if matches!(status, "running" | "paused") && !force {
            return Err(OciRuntimeError::Status {
                id: id.into(),
                status,
                what: "stop it first, or delete --force",
            });
        }
        let folders = linux::cgroup_folders(&entry.state);
        if status == "paused" {
            let _ = set_frozen(&folders, false);
        }
        let poststop: Vec<Hook> =
            serde_json::from_value(entry.state.spec["oci"]["poststop"].clone()).unwrap_or_default();
        let state = serde_json::to_string(&serde_json::json!({
            "ociVersion": OCI_VERSION,
            "id": id,
            "status": "stopped",
            "bundle": entry.state.spec["oci"]["bundle"],
            "annotations": entry.state.spec["oci"]["annotations"],
        }))
        .unwrap_or_default();
        linux::teardown(&mut entry)?;
        entry.remove()?;
        // poststop: after everything is removed; its failure is reported, not undone.
        crate::apply::hooks::run(&poststop, &state).map_err(RuntimeError::from)?;
        Ok(())
    }

    /// `ps`: the host PIDs of every process in the container.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, OciRuntimeError> {
        let state = self.store.peek(id)?;
        let mut pids = Vec::new();
        for f in linux::cgroup_folders(&state) {
            for p in cgroup::pids(&f).map_err(RuntimeError::from)? {
                if !pids.contains(&p) {
                    pids.push(p);
                }
            }
        }
        pids.sort_unstable();
        Ok(pids)
    }

    /// `pause` (`frozen`) or `resume`: the cgroup freezer.
    pub fn freeze(&self, id: &str, frozen: bool) -> Result<(), OciRuntimeError> {
        let state = self.store.peek(id)?;
        let status = status_of(&state);
        match (frozen, status) {
            (true, "running") | (false, "paused") => {}
            (true, s) => {
                return Err(OciRuntimeError::Status {
                    id: id.into(),
                    status: s,
                    what: "only a running container can be paused",
                })
            }
            (false, s) => {
                return Err(OciRuntimeError::Status {
                    id: id.into(),
                    status: s,
                    what: "only a paused container can be resumed",
                })
            }
        }
        set_frozen(&linux::cgroup_folders(&state), frozen)
    }
}

/// The annotations of the bundle's config (for `state`), or none.
fn annotations_of(bundle: &Path) -> serde_json::Value {
    fs::read_to_string(bundle.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| v["annotations"].clone())
        .filter(|a| a.is_object())
        .unwrap_or_else(|| serde_json::json!({}))
}

/// The runtime-spec status of a record, from the kernel: a dead (or zombie) first process
/// is `stopped` whatever the record says; a frozen cgroup is `paused`.
fn status_of(state: &State) -> &'static str {
    match state.status {
        Status::Creating | Status::Stopped => "stopped",
        _ if !linux::entry_alive(state) => "stopped",
        Status::Created => "created",
        Status::Running => {
            if is_frozen(&linux::cgroup_folders(state)) {
                "paused"
            } else {
                "running"
            }
        }
    }
}

/// v2: `cgroup.freeze`; v1: the freezer hierarchy's `freezer.state`.
fn freezer_file(folder: &Path) -> Option<(PathBuf, &'static str, &'static str)> {
    let v2 = folder.join("cgroup.freeze");
    if v2.exists() {
        return Some((v2, "1", "0"));
    }
    let v1 = folder.join("freezer.state");
    v1.exists().then_some((v1, "FROZEN", "THAWED"))
}

fn is_frozen(folders: &[PathBuf]) -> bool {
    folders.iter().any(|f| match freezer_file(f) {
        Some((path, on, _)) => fs::read_to_string(path).is_ok_and(|t| t.trim() == on),
        None => false,
    })
}

fn set_frozen(folders: &[PathBuf], frozen: bool) -> Result<(), OciRuntimeError> {
    let mut done = false;
    for f in folders {
        if let Some((path, on, off)) = freezer_file(f) {
            fs::write(&path, if frozen { on } else { off }).map_err(write_err(&path))?;
            done = true;
        }
    }
    if !done {
        return Err(OciRuntimeError::Runtime(RuntimeError::from(
            LifecycleError::NotRunning {
                name: "freezer".into(),
                status: "no freezer controller in the container's cgroups".into(),
            },
        )));
    }
    // v1 freezes asynchronously (FREEZING); wait until the state settles.
    for _ in 0..200 {
        let settled = folders.iter().all(|f| match freezer_file(f) {
            Some((path, _, _)) => fs::read_to_string(path).is_ok_and(|t| t.trim() != "FREEZING"),
            None => true,
        });
        if settled {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// Hands a terminal's master to the engine over its console socket (SCM_RIGHTS), as runc
/// does; the payload names the fd, as runc's `SendFile` does.
fn send_console(sock: &UnixStream, master: &OwnedFd) -> Result<(), OciRuntimeError> {
    stockade_term::fdpass::send(sock.as_fd(), master.as_fd(), b"/dev/ptmx").map_err(|source| {
        OciRuntimeError::Write {
            path: PathBuf::from("--console-socket"),
            source,
        }
    })
}

/// Writes the PID atomically (a temporary file renamed over it), as engines read it as
/// soon as `create` returns.
fn write_pid_file(path: &Path, pid: i32) -> Result<(), OciRuntimeError> {
    let tmp = path.with_extension(format!("stockade-tmp-{}", std::process::id()));
    fs::write(&tmp, pid.to_string()).map_err(write_err(&tmp))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        OciRuntimeError::Write {
            path: path.to_path_buf(),
            source: e,
        }
    })
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-12-06T19:40:04Z`).
pub fn rfc3339(secs: u64) -> String {
    stockade_core::time::rfc3339_seconds(secs)
}

/// Whether the process `pid` started at `start` still runs (for callers holding a state).
pub fn alive(pid: i32, start: u64) -> bool {
    proc::is_alive(pid, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_500_804), "2026-12-05T20:00:04Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
