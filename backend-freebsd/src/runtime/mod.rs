//! The lifecycle of jail environments over the state store: `Runtime for FreebsdBackend`
//! (FreeBSD only).
//!
//! The kernel objects are made and removed by [`crate::apply`] over [`SysKernel`] (the
//! same code the fake-kernel tests drive); this module adds the processes
//! ([`spawn`]), the state folder's files (`process.json`, the exec fifo) and the
//! commands' rules (what may be started, deleted, signalled).
//!
//! - `create`: probe and plan (a host that cannot run the plan fails before anything is
//!   made), make the state folder, apply the plan, start the process (it waits on the
//!   exec fifo unless `start` is asked at once) under a monitor that records its exit.
//!   Any failure undoes everything made.
//! - `start`: one byte into the exec fifo.
//! - `run`: create with the caller as the process's parent, relay SIGINT/SIGTERM/SIGHUP
//!   (a second one kills every process in the jail), wait, delete.
//! - `exec`: a new process attached to the running jail with the environment's identity,
//!   limits and working folder, in the foreground.
//! - `stop`: SIGTERM to every process in the jail, the grace period, then SIGKILL.
//! - `delete`: undo the record (strict; `--force` stops first and tolerates what is
//!   already gone), then remove the state folder.

pub mod oci;
mod spawn;

pub use spawn::monitor_main;

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use stockade_core::backend::{
    CgroupVersion, CreateOptions, Foreground, PlanContext, Runtime, Stats as PortableStats, Stdio,
};
use stockade_core::state::{Entry, Exit, LifecycleError, Resource, State, StateStore, Status};
use stockade_core::Spec;

use crate::apply::{self, BusyRetry, StopOutcome, StopTiming, UndoMode};
use stockade_term::relay::Session;

use crate::kernel::{JailSignal, Jid, Kernel};
use crate::lifecycle::{exit_of, parse_signal, refreshed, status_name, RuntimeError, PROCESS_FILE};
use crate::process::ProcessConfig;
use crate::sys::{proc, SysKernel};
use crate::{Error, FreebsdBackend};

use spawn::{fifo_path, read_ready, spawn, Monitor, Spawned};

/// How long `delete --force` lets processes react to SIGTERM.
const FORCE_GRACE: Duration = Duration::ZERO;

impl Runtime for FreebsdBackend {
    fn create_made(
        &self,
        spec: &Spec,
        store: &StateStore,
        opts: &CreateOptions,
    ) -> Result<stockade_core::backend::Created, Error> {
        let made = create(spec, store, opts, false)?;
        Ok(stockade_core::backend::Created {
            state: made.entry.state.clone(),
            terminal: made.terminal,
        })
    }

    fn start(&self, store: &StateStore, name: &str) -> Result<(), Error> {
        Ok(start(store, name)?)
    }

    fn run_with(&self, spec: &Spec, store: &StateStore, fg: Foreground) -> Result<Exit, Error> {
        Ok(run(spec, store, fg)?)
    }

    fn exec_with(
        &self,
        store: &StateStore,
        name: &str,
        command: &[String],
        fg: Foreground,
    ) -> Result<Exit, Error> {
        Ok(exec(store, name, command, fg)?)
    }

    fn signal(&self, store: &StateStore, name: &str, signal: &str) -> Result<(), Error> {
        let sig = parse_signal(signal)?;
        let state = live_state(store, name)?;
        let pid = state.pid.unwrap_or(0);
        proc::kill(pid, sig).map_err(RuntimeError::sys(format!("kill {pid} with signal {sig}")))?;
        Ok(())
    }

    fn stats(&self, store: &StateStore, name: &str) -> Result<PortableStats, Error> {
        let state = store.peek(name).map_err(RuntimeError::from)?;
        let limit = |key: &str| state.spec["limits"][key].as_u64();
        let usage = FreebsdBackend::stats(self, store, name)?;
        Ok(usage.portable(limit("memory"), limit("processes")))
    }

    fn stop(&self, store: &StateStore, name: &str, grace: Duration) -> Result<(), Error> {
        store.peek(name).map_err(RuntimeError::from)?;
        Ok(stop(name, grace)?)
    }

    fn delete(&self, store: &StateStore, name: &str, force: bool) -> Result<(), Error> {
        Ok(delete(store, name, force)?)
    }

    fn state(&self, store: &StateStore, name: &str) -> Result<State, Error> {
        Ok(refresh(store, name)?)
    }

    fn processes(
        &self,
        store: &StateStore,
        name: &str,
    ) -> Result<Vec<stockade_core::backend::ProcessInfo>, Error> {
        store.peek(name).map_err(RuntimeError::from)?;
        let out = std::process::Command::new("ps")
            .args(crate::top::ps_args(name))
            .output()
            .map_err(RuntimeError::sys("ps -J"))?;
        // ps exits 1 when the jail has no process left: an empty list.
        Ok(crate::top::parse_ps(&String::from_utf8_lossy(&out.stdout)))
    }
}

impl FreebsdBackend {
    /// What the environment's jail uses now, from racct (`rctl -u jail:NAME`).
    pub fn stats(&self, store: &StateStore, name: &str) -> Result<apply::Stats, Error> {
        store.peek(name).map_err(RuntimeError::from)?;
        let mut k = SysKernel;
        Ok(apply::stats(&mut k, name).map_err(RuntimeError::from)?)
    }
}

/// A created environment, still locked.
struct Created {
    entry: Entry,
    pid: i32,
    /// The master of its terminal, with `Stdio::Terminal`.
    terminal: Option<OwnedFd>,
}

fn create(
    spec: &Spec,
    store: &StateStore,
    opts: &CreateOptions,
    foreground: bool,
) -> Result<Created, RuntimeError> {
    let ctx = PlanContext::new(store.root(), &spec.name, CgroupVersion::V2);
    let plan = crate::plan::plan_with(spec, &ctx, &crate::probe::plan_options(spec))?;
    let spec_json = serde_json::to_value(spec).map_err(|e| RuntimeError::Sys {
        what: "serialise the spec".into(),
        source: std::io::Error::other(e),
    })?;
    let state = State::new(spec.name.clone(), spec.source.clone(), spec_json);
    create_planned(&plan, state, store, opts, foreground)
}

/// Makes the environment of a plan (from a spec, or from an OCI config.json), recorded
/// as `state`; `foreground` makes the caller the process's parent instead of a monitor.
fn create_planned(
    plan: &crate::FreebsdPlan,
    state: State,
    store: &StateStore,
    opts: &CreateOptions,
    foreground: bool,
) -> Result<Created, RuntimeError> {
    let host = crate::probe::probe()?;
    // Before the state folder exists: a host that cannot run this leaves nothing behind.
    plan.check_host(&host)?;
    if plan.pf.as_ref().is_some_and(|pf| !pf.ports.is_empty()) {
        let others: Vec<(String, Vec<stockade_core::state::Resource>)> = store
            .names()?
            .into_iter()
            .filter_map(|n| store.peek(&n).ok().map(|st| (n, st.resources)))
            .collect();
        apply::check_published_elsewhere(plan, &others)?;
    }
    let cfg = ProcessConfig::from_steps(&plan.exec)?;
    let mut entry = store.create(state)?;
    let dir = entry.dir().to_path_buf();
    let cfg_path = dir.join(PROCESS_FILE);
    let json = serde_json::to_vec_pretty(&cfg).map_err(|e| RuntimeError::Sys {
        what: format!("serialise {}", cfg_path.display()),
        source: std::io::Error::other(e),
    })?;
    if let Err(e) = fs::write(&cfg_path, json) {
        let _ = entry.remove();
        return Err(RuntimeError::sys(cfg_path.display().to_string())(e));
    }

    let mut kernel = SysKernel;
    let jid = match apply::create(plan, &host, &mut kernel, &mut entry, BusyRetry::HOST) {
        Ok(jid) => jid,
        Err(e) => {
            // Everything made was undone unless the record still lists something.
            if entry.state.resources.is_empty() {
                let _ = entry.remove();
            }
            return Err(e.into());
        }
    };
    match start_process(&cfg, jid, &mut entry, store, opts, foreground) {
        Ok((pid, terminal)) => Ok(Created {
            entry,
            pid,
            terminal,
        }),
        Err(e) => {
            if apply::undo(&mut kernel, &mut entry, UndoMode::Force, BusyRetry::HOST).is_ok() {
                let _ = entry.remove();
            }
            Err(e)
        }
    }
}

fn start_process(
    cfg: &ProcessConfig,
    jid: Jid,
    entry: &mut Entry,
    store: &StateStore,
    opts: &CreateOptions,
    foreground: bool,
) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
    let fifo = if opts.start {
        None
    } else {
        let path = fifo_path(entry.dir());
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
            .map_err(|e| RuntimeError::sys(format!("mkfifo {}", path.display()))(e.into()))?;
        Some(open_fifo(&path, OFlag::O_RDWR)?)
    };
    let monitor = if foreground {
        None
    } else {
        Some(Monitor {
            store: store.clone(),
            name: entry.state.name.clone(),
            program: stockade_term::launch::locate()
                .map_err(RuntimeError::sys("find the monitor program"))?,
            null: fs::File::open("/dev/null")
                .map_err(RuntimeError::sys("/dev/null"))?
                .into(),
        })
    };
    let Spawned {
        pid,
        go,
        ready,
        terminal,
    } = spawn(cfg, jid, opts.stdio, fifo, monitor)
        .map_err(RuntimeError::sys("start the environment's process"))?;
    let start_time = proc::start_time(pid)
        .map_err(RuntimeError::sys(format!("sysctl kern.proc.pid.{pid}")))?
        .ok_or(RuntimeError::DiedInSetup)?;
    entry.state.pid = Some(pid);
    entry.state.pid_start_time = Some(start_time);
    entry.record(Resource::Process { pid, start_time })?;
    // Recorded: let it enter the jail.
    proc::write_all(go.as_raw_fd(), b"G");
    drop(go);
    read_ready(ready).map_err(|msg| {
        if msg.is_empty() {
            RuntimeError::DiedInSetup
        } else {
            RuntimeError::Setup(msg)
        }
    })?;
    let terminal = receive_terminal(terminal)?;
    entry.state.status = if opts.start {
        Status::Running
    } else {
        Status::Created
    };
    entry.save()?;
    Ok((pid, terminal))
}

fn open_fifo(path: &std::path::Path, flags: OFlag) -> Result<OwnedFd, RuntimeError> {
    nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| RuntimeError::sys(path.display().to_string())(e.into()))
}

fn start(store: &StateStore, name: &str) -> Result<(), RuntimeError> {
    let mut entry = store.open(name, true)?;
    let alive = alive(&entry.state);
    if entry.state.status != Status::Created || !alive {
        let status = refreshed(&entry.state, alive);
        return Err(RuntimeError::from(LifecycleError::NotCreated {
            name: name.into(),
            status: status_name(status).into(),
        }));
    }
    let path = fifo_path(entry.dir());
    // Non-blocking: the process holds the fifo open for reading, so this opens at once.
    let fifo = open_fifo(&path, OFlag::O_WRONLY | OFlag::O_NONBLOCK)?;
    nix::unistd::write(&fifo, b"S")
        .map_err(|e| RuntimeError::sys(path.display().to_string())(e.into()))?;
    drop(fifo);
    let _ = fs::remove_file(&path);
    entry.state.status = Status::Running;
    entry.save()?;
    Ok(())
}

/// Signals a foreground run or exec relays to the process.
fn relayed() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// Waits for `pid` (the caller's child) with SIGINT/SIGTERM/SIGHUP relayed to it; a
/// second SIGINT or SIGTERM kills every process in the jail. The signals must already
/// be blocked (so none is lost between fork and the wait).
fn wait_relaying(pid: i32, jail: &str) -> Result<Exit, RuntimeError> {
    let set = relayed();
    let child = Pid::from_raw(pid);
    let mut relayed_once = false;
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(exit_of(Some(code), None, None)),
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                return Ok(exit_of(None, Some(sig as i32), None))
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(RuntimeError::sys(format!("wait for {pid}"))(e.into())),
        }
        let sig = set
            .wait()
            .map_err(|e| RuntimeError::sys("sigwait")(e.into()))?;
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGINT | Signal::SIGTERM if relayed_once => {
                let mut k = SysKernel;
                if let Ok(Some(jid)) = k.find_jail(jail) {
                    let _ = k.signal_jail(jid, JailSignal::Kill);
                }
                let _ = proc::kill(pid, libc::SIGKILL);
            }
            other => {
                relayed_once |= matches!(other, Signal::SIGINT | Signal::SIGTERM);
                let _ = proc::kill(pid, other as i32);
            }
        }
    }
}

/// Blocks the relayed signals for the life of the value.
struct Blocked(SigSet);

impl Blocked {
    fn new() -> Result<Blocked, RuntimeError> {
        let mut old = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&relayed()), Some(&mut old))
            .map_err(|e| RuntimeError::sys("sigprocmask")(e.into()))?;
        Ok(Blocked(old))
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
    }
}

/// Receives the master the process sent before `R`.
fn receive_terminal(sock: Option<OwnedFd>) -> Result<Option<OwnedFd>, RuntimeError> {
    let Some(sock) = sock else { return Ok(None) };
    let mut tag = [0u8; 1];
    match stockade_term::fdpass::recv(sock.as_fd(), &mut tag)
        .map_err(RuntimeError::sys("receive the environment's terminal"))?
    {
        Some((master, _)) => Ok(Some(master)),
        None => Err(RuntimeError::DiedInSetup),
    }
}

/// Starts relaying the caller's terminal to `master`, if there is one.
fn relay(master: Option<OwnedFd>) -> Result<Option<Session>, RuntimeError> {
    master
        .map(Session::start)
        .transpose()
        .map_err(RuntimeError::sys("relay the terminal"))
}

fn run(spec: &Spec, store: &StateStore, fg: Foreground) -> Result<Exit, RuntimeError> {
    let blocked = Blocked::new()?;
    let opts = CreateOptions {
        stdio: if fg.terminal {
            Stdio::Terminal
        } else {
            Stdio::Inherit
        },
        start: true,
    };
    let Created {
        entry,
        pid,
        terminal,
    } = create(spec, store, &opts, true)?;
    // Other commands (stop, exec, kill) may lock the environment meanwhile.
    drop(entry);
    let session = relay(terminal);
    let exit = match session {
        Ok(session) => {
            let exit = wait_relaying(pid, &spec.name);
            if let Some(s) = session {
                s.finish();
            }
            exit
        }
        Err(e) => Err(e),
    };
    drop(blocked);
    if let Ok(exit) = &exit {
        if let Ok(mut e) = store.open(&spec.name, true) {
            e.state.exit = Some(exit.clone());
            e.state.status = Status::Stopped;
            let _ = e.save();
        }
    }
    let cleanup = delete(store, &spec.name, true);
    let exit = exit?;
    cleanup?;
    Ok(exit)
}

fn exec(
    store: &StateStore,
    name: &str,
    command: &[String],
    fg: Foreground,
) -> Result<Exit, RuntimeError> {
    let state = live_state(store, name)?;
    let path = store.dir(name).join(PROCESS_FILE);
    let text = fs::read(&path).map_err(RuntimeError::sys(path.display().to_string()))?;
    let cfg: ProcessConfig = serde_json::from_slice(&text).map_err(|e| RuntimeError::Sys {
        what: path.display().to_string(),
        source: std::io::Error::other(e),
    })?;
    let cfg = cfg.with_command(command)?;
    let jid = SysKernel.find_jail(&state.name)?.ok_or_else(|| {
        RuntimeError::from(LifecycleError::NotRunning {
            name: name.into(),
            status: "no jail".into(),
        })
    })?;
    let blocked = Blocked::new()?;
    let stdio = if fg.terminal {
        Stdio::Terminal
    } else {
        Stdio::Inherit
    };
    let Spawned {
        pid,
        go,
        ready,
        terminal,
    } = spawn(&cfg, jid, stdio, None, None).map_err(RuntimeError::sys("start the command"))?;
    proc::write_all(go.as_raw_fd(), b"G");
    drop(go);
    if let Err(msg) = read_ready(ready) {
        let _ = proc::wait(pid);
        return Err(if msg.is_empty() {
            RuntimeError::DiedInSetup
        } else {
            RuntimeError::Setup(msg)
        });
    }
    let session = match receive_terminal(terminal).and_then(relay) {
        Ok(s) => s,
        Err(e) => {
            let _ = proc::kill(pid, libc::SIGKILL);
            let _ = proc::wait(pid);
            return Err(e);
        }
    };
    let exit = wait_relaying(pid, name);
    if let Some(s) = session {
        s.finish();
    }
    drop(blocked);
    exit
}

fn stop(name: &str, grace: Duration) -> Result<(), RuntimeError> {
    let mut k = SysKernel;
    let outcome = apply::stop(
        &mut k,
        name,
        StopTiming::with_grace(grace),
        &mut proc::sleep,
    )?;
    match outcome {
        StopOutcome::StillRunning => Err(RuntimeError::Unkillable(name.into())),
        _ => Ok(()),
    }
}

fn delete(store: &StateStore, name: &str, force: bool) -> Result<(), RuntimeError> {
    let mut entry = store.open(name, true)?;
    let running = alive(&entry.state) && entry.state.status == Status::Running;
    if running && !force {
        return Err(RuntimeError::from(LifecycleError::StillRunning(
            name.into(),
        )));
    }
    let mut k = SysKernel;
    if force {
        apply::stop(
            &mut k,
            name,
            StopTiming::with_grace(FORCE_GRACE),
            &mut proc::sleep,
        )?;
    }
    let mode = if force {
        UndoMode::Force
    } else {
        UndoMode::Strict
    };
    apply::undo(&mut k, &mut entry, mode, BusyRetry::HOST)?;
    entry.remove()?;
    Ok(())
}

fn alive(state: &State) -> bool {
    match (state.pid, state.pid_start_time) {
        (Some(pid), Some(t)) => proc::is_alive(pid, t),
        _ => false,
    }
}

/// The state of a created or running environment, or `NotRunning`.
fn live_state(store: &StateStore, name: &str) -> Result<State, RuntimeError> {
    let state = refresh(store, name)?;
    if !matches!(state.status, Status::Running | Status::Created) {
        return Err(RuntimeError::from(LifecycleError::NotRunning {
            name: name.into(),
            status: status_name(state.status).into(),
        }));
    }
    Ok(state)
}

/// The recorded state with its status corrected from the kernel (a gone or recycled
/// pid means stopped), saved when no other command holds the environment.
fn refresh(store: &StateStore, name: &str) -> Result<State, RuntimeError> {
    let mut state = store.peek(name)?;
    let status = refreshed(&state, alive(&state));
    if status != state.status {
        state.status = status;
        if let Ok(mut e) = store.open(name, false) {
            e.state.status = status;
            let _ = e.save();
        }
    }
    Ok(state)
}
