//! The lifecycle of Linux environments over the state store: `Runtime for LinuxBackend`
//! (create, start, run, exec, signal, stop, delete, state).
//!
//! Every kernel object is recorded in state.json before it is made, and undo walks the
//! record backwards, tolerating objects that were never made: the same code undoes a
//! failed create, `delete` and `delete --force` after a creator was killed at any step.
//! The root is built inside the environment's private mount namespace, so the host never
//! sees a mount of it and there is none to undo; what remains are cgroups, processes and
//! the state folder.
//!
//! # CVE-2019-5736 (overwriting the runtime binary through /proc/PID/exe)
//! The attack needs a process inside the environment to open `/proc/<pid>/exe` of a
//! process that runs stockade's binary *and* lives in the environment's PID namespace.
//! stockade never re-executes itself: the environment's first process is cloned from
//! stockade and execve's the command directly, and `exec` forks a helper that joins the
//! namespaces and execve's the command. Three processes run stockade code inside the PID
//! namespace: the first process before its execve (alone in the namespace: nothing can
//! see it), the `init` reaper (for its whole life) and the `exec` child before its execve.
//! All three are made non-dumpable (`PR_SET_DUMPABLE 0`) before they enter or can be seen
//! in the namespace, and the reaper re-asserts it after changing credentials. The kernel
//! then allows `/proc/<pid>/exe`, `mem`, `fd/`, `environ` only to holders of
//! CAP_SYS_PTRACE (ptrace_may_access), which the environment's bounding set lacks unless
//! the spec grants `privileges.allow = ["ptrace"]` — a privilege that hands the
//! environment every process in it, stockade's helpers included, and must be treated as
//! such. This is runc's `runc init` non-dumpable defence; runc adds a read-only copy of
//! its binary because `runc init` re-executes itself, which stockade never does.
//!
//! The detached monitor executes another program, `stockade-monitor`, but from a
//! descriptor the creator opened beside its own executable in the host's namespaces, and
//! it lives outside the environment's PID namespace (a joined one included: it enters the
//! namespaces only after the monitor's fork), so nothing inside can name its
//! `/proc/<pid>/exe`; it is non-dumpable besides.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use stockade_core::backend::{
    CgroupVersion, CreateOptions, Foreground, PlanContext, ProcessInfo, Runtime, Stats, Stdio,
};
use stockade_core::spec::Spec;
use stockade_core::state::{
    Entry, Exit, LifecycleError, Resource, State, StateError, StateStore, Status,
};

use super::cgroup::{self, CgroupError};
use super::net::{self, NetError};
use super::process::ProcessConfig;
use super::spawn::{self, ChildSetup, ChildStdio, MonitorArgs, MonitorOutput};
use super::{join, proc, sys};
use crate::plan::userns::UserNsPlan;
use crate::plan::PlanError;
use crate::{Error, LinuxBackend};

/// What the lifecycle can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The state store.
    #[error(transparent)]
    State(#[from] StateError),
    /// Planning.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Probing the host.
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    /// A cgroup operation.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The writable layer of a copy-on-write root.
    #[error(transparent)]
    Layer(#[from] super::layer::LayerError),
    /// A resource limit the process could not be given.
    #[error(transparent)]
    Rlimit(#[from] super::rlimit::RlimitError),
    /// A network step, or deleting a host interface.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Rootless mode: id maps, delegated cgroups.
    #[error(transparent)]
    Rootless(#[from] super::userns::UserNsError),
    /// NAT and published ports.
    #[error(transparent)]
    Firewall(#[from] super::firewall::FirewallError),
    /// Checkpoint and restore (CRIU).
    #[error(transparent)]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    /// The limits shown inside (`limits.visible`).
    #[error(transparent)]
    Visible(#[from] super::visible::VisibleError),
    /// A system call or file operation of the creator.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The cause, with errno.
        source: io::Error,
    },
    /// The environment's process failed while building its root or dropping privileges.
    #[error("setting up the environment failed: {0}")]
    Setup(String),
    /// The environment's process died before it was set up.
    #[error("the environment's process died while being set up")]
    DiedInSetup,
    /// A feature of the spec this backend cannot run yet.
    #[error("{0}")]
    Unsupported(String),
    /// An OCI hook failed.
    #[error(transparent)]
    Hook(#[from] super::hooks::HookError),
    /// Refused because of the environment's status (portable wording, from core).
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

impl From<RuntimeError> for Error {
    fn from(e: RuntimeError) -> Self {
        Error::Runtime(Box::new(e))
    }
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> RuntimeError {
    let what = what.into();
    move |source| RuntimeError::Sys { what, source }
}

fn nix_err(what: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> RuntimeError {
    let what = what.into();
    move |e| RuntimeError::Sys {
        what,
        source: e.into(),
    }
}

/// Debug-build hook for the crash tests: `STOCKADE_TEST_CRASH_AT=<step>` makes the creator
/// SIGKILL itself at that step (after recording what the step makes). Steps, in order:
/// `state`, `cgroup`, `cgroup-made`, `process`, `interface`, `network` (both `private`
/// only, see [`net::setup`]), `released`, `ready`. Compiled out of release builds.
pub(super) fn crash_point(step: &str) {
    if cfg!(debug_assertions) && std::env::var("STOCKADE_TEST_CRASH_AT").as_deref() == Ok(step) {
        let _ = kill(Pid::this(), Signal::SIGKILL);
    }
}

impl Runtime for LinuxBackend {
    fn create_made(
        &self,
        spec: &Spec,
        store: &StateStore,
        opts: &CreateOptions,
    ) -> Result<stockade_core::backend::Created, Error> {
        let made = create(self, spec, store, opts, false)?;
        Ok(stockade_core::backend::Created {
            state: made.entry.state.clone(),
            terminal: made.terminal,
        })
    }

    fn start(&self, store: &StateStore, name: &str) -> Result<(), Error> {
        Ok(start(store, name)?)
    }

    fn run_with(&self, spec: &Spec, store: &StateStore, fg: Foreground) -> Result<Exit, Error> {
        Ok(run(self, spec, store, fg)?)
    }

    fn exec_with(
        &self,
        store: &StateStore,
        name: &str,
        command: &[String],
        fg: Foreground,
    ) -> Result<Exit, Error> {
        Ok(join::exec(store, name, command, fg)?)
    }

    fn signal(&self, store: &StateStore, name: &str, signal: &str) -> Result<(), Error> {
        let sig = parse_signal(signal)?;
        let state = live_state(store, name)?;
        let pid = state.pid.unwrap_or(0);
        kill(Pid::from_raw(pid), sig).map_err(nix_err(format!("kill {pid} {sig}")))?;
        Ok(())
    }

    fn stop(&self, store: &StateStore, name: &str, grace: Duration) -> Result<(), Error> {
        Ok(stop(store, name, grace)?)
    }

    fn delete(&self, store: &StateStore, name: &str, force: bool) -> Result<(), Error> {
        Ok(delete(store, name, force)?)
    }

    fn processes(&self, store: &StateStore, name: &str) -> Result<Vec<ProcessInfo>, Error> {
        let state = store.peek(name).map_err(RuntimeError::from)?;
        let folders = cgroup_folders(&state);
        Ok(super::top::processes(&folders, Path::new("/proc")).map_err(RuntimeError::from)?)
    }

    fn stats(&self, store: &StateStore, name: &str) -> Result<Stats, Error> {
        Ok(stats(store, name)?)
    }

    fn state(&self, store: &StateStore, name: &str) -> Result<State, Error> {
        Ok(refresh(store, name)?)
    }
}

/// A created environment, still locked.
pub struct Created {
    /// Its state entry (locked).
    pub entry: Entry,
    /// Its first process.
    pub pid: Pid,
    /// The report pipe when the caller waits for the process itself (foreground).
    pub report: Option<OwnedFd>,
    /// The master of the process's terminal, when `opts.terminal` and the caller keeps
    /// it (not with `Stdio::Log`, where the monitor does).
    pub terminal: Option<OwnedFd>,
}

/// Plans with this host's cgroup version.
pub(crate) fn plan_for(
    backend: &LinuxBackend,
    spec: &Spec,
    store: &StateStore,
) -> Result<crate::plan::LinuxPlan, RuntimeError> {
    let host = crate::probe::probe_root(Path::new("/"))?;
    let version = host.cgroup.unwrap_or(CgroupVersion::V2);
    let ctx = PlanContext::new(store.root(), &spec.name, version);
    // Rootless is chosen by who runs us, not by the backend's options.
    let mut options = backend.options().clone();
    if options.rootless.is_none() {
        options.rootless = super::userns::detect();
    }
    Ok(crate::plan::plan_with(spec, &ctx, &options)?)
}

/// Makes the environment; `foreground` makes the caller the process's parent instead of
/// a detached monitor.
pub fn create(
    backend: &LinuxBackend,
    spec: &Spec,
    store: &StateStore,
    opts: &CreateOptions,
    foreground: bool,
) -> Result<Created, RuntimeError> {
    let plan = plan_for(backend, spec, store)?;
    let spec_json = serde_json::to_value(spec).map_err(|e| RuntimeError::Sys {
        what: "serialise the spec".into(),
        source: io::Error::other(e),
    })?;
    let state = State::new(spec.name.clone(), spec.source.clone(), spec_json);
    create_planned(&plan, state, store, opts, foreground)
}

/// Makes the environment of a plan made elsewhere (an OCI bundle's, see
/// [`crate::oci::translate`]); `state` is the record to start from (its name is the
/// plan's). Same guarantees as [`create`]: on failure everything made is undone.
pub fn create_planned(
    plan: &crate::plan::LinuxPlan,
    state: State,
    store: &StateStore,
    opts: &CreateOptions,
    foreground: bool,
) -> Result<Created, RuntimeError> {
    // Before anything is made: a limit the process could not be given fails here.
    super::rlimit::preflight(&plan.rlimits)?;
    if let Some(firewall) = &plan.network.firewall {
        super::firewall::preflight(firewall)?;
    }
    // The record is first written with the cgroup folders, before anything it names is
    // made (the files written into the folder before then go with it).
    let mut entry = store.reserve(state)?;
    crash_point("state");
    let mut made = MadeSoFar { pid: None };
    match create_in(plan, &mut entry, opts, foreground, store, &mut made) {
        Ok((pid, report, terminal)) => Ok(Created {
            entry,
            pid,
            report,
            terminal,
        }),
        Err(e) => {
            undo(&mut entry, made.pid, foreground);
            let _ = entry.remove();
            Err(e)
        }
    }
}

/// What a failing create must undo beyond the record: the process, once it exists.
struct MadeSoFar {
    pid: Option<Pid>,
}

fn create_in(
    plan: &crate::plan::LinuxPlan,
    entry: &mut Entry,
    opts: &CreateOptions,
    foreground: bool,
    store: &StateStore,
    made: &mut MadeSoFar,
) -> Result<(Pid, Option<OwnedFd>, Option<OwnedFd>), RuntimeError> {
    // Before anything is made: a detached environment needs its monitor program (and
    // /dev/null for its streams), opened here, in the host's namespaces.
    let program = if foreground {
        None
    } else {
        let program =
            stockade_term::launch::locate().map_err(sys_err("find the monitor program"))?;
        let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(nix_err("/dev/null"))?;
        Some((program, null))
    };
    let dir = entry.dir().to_path_buf();
    let cfg = write_process_config(plan, &dir)?;
    if let Some(resolver) = &plan.network.resolver {
        super::resolv::write(resolver, &dir).map_err(sys_err("write resolv.conf"))?;
    }
    if let Some(firewall) = &plan.network.firewall {
        super::firewall::setup(firewall, entry)?;
    }
    if plan.mounts.rootfs.starts_with(&dir) {
        // root.host: the tmpfs mount point, inside the state folder (goes with it).
        fs::create_dir_all(&plan.mounts.rootfs)
            .map_err(sys_err(format!("{}", plan.mounts.rootfs.display())))?;
    }
    if let Some(layer) = &plan.mounts.layer {
        super::layer::prepare(layer, entry, store)?;
    }
    if let Some(visible) = &plan.visible {
        super::visible::prepare(visible)?;
    }

    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").map_err(sys_err("/proc/self/mountinfo"))?;
    let hierarchies = cgroup::hierarchies(&mountinfo);
    let caller = cgroup::place::Caller::read(Path::new("/"))?;
    let base = |h: &cgroup::Hierarchy| {
        cgroup::place::base_for(h, &hierarchies, &caller, &cgroup::place::is_delegated)
    };
    let rootless = plan.userns.as_ref().is_some_and(UserNsPlan::rootless);
    let folders = if rootless {
        let folders = super::userns::cgroup_folders(&plan.cgroup, &hierarchies, &caller)?;
        if folders.is_empty() {
            entry.state.notes.push(super::userns::NO_CGROUP_NOTE.into());
        }
        folders
    } else {
        cgroup::folders(&plan.cgroup, &hierarchies, &base)?
    };
    // One save records every folder before any is made (undo tolerates folders never
    // made): on cgroup v1 that is one write of state.json instead of one per hierarchy.
    entry
        .state
        .resources
        .extend(folders.iter().map(|f| Resource::Cgroup {
            path: f.path.clone(),
        }));
    entry.save()?;
    crash_point("cgroup");
    for folder in &folders {
        cgroup::make(folder, &plan.cgroup)?;
        crash_point("cgroup-made");
    }
    let skipped = cgroup::write_limits(&plan.cgroup, &folders, &hierarchies)?;
    if !skipped.is_empty() {
        entry.state.notes.extend(skipped);
        entry.save()?;
    }
    let cgroup_fd = match (plan.cgroup.version, folders.first()) {
        (CgroupVersion::V2, Some(first)) => {
            let dir = &first.path;
            let fd = nix::fcntl::open(
                dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(nix_err(format!("{}", dir.display())))?;
            // Before the first process is born in it: the policy holds from its start.
            // (Rootless plans none: a user namespace cannot make device nodes.)
            if !rootless {
                cgroup::device::attach(&plan.cgroup.devices, fd.as_fd(), dir)?;
            }
            Some(fd)
        }
        _ => None,
    };
    let folders: Vec<PathBuf> = folders.into_iter().map(|f| f.path).collect();

    let fifo = if opts.start {
        None
    } else {
        let path = spawn::fifo_path(&dir);
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
            .map_err(nix_err(format!("mkfifo {}", path.display())))?;
        Some(
            nix::fcntl::open(&path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(nix_err(format!("{}", path.display())))?,
        )
    };

    let (stdio, output, terminal) = streams(opts, foreground)?;
    let (userns_mapped, mapped_w) = match plan.userns {
        Some(_) => {
            let (r, w) = spawn::pipe().map_err(sys_err("pipe"))?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    let setup = ChildSetup {
        plan,
        cfg: &cfg,
        stdio,
        fifo,
        userns_mapped,
    };
    let monitor = program.map(|(program, null)| MonitorArgs {
        store: store.clone(),
        name: entry.state.name.clone(),
        output,
        program,
        null,
    });
    let spawned = spawn::spawn(setup, cgroup_fd, monitor)
        .map_err(sys_err("start the environment's process"))?;
    let pid = spawned.pid;
    made.pid = Some(pid);
    let start_time = proc::start_time(pid.as_raw())
        .map_err(sys_err(format!("/proc/{pid}/stat")))?
        .ok_or(RuntimeError::DiedInSetup)?;
    entry.state.pid = Some(pid.as_raw());
    entry.state.pid_start_time = Some(start_time);
    let process = Resource::Process {
        pid: pid.as_raw(),
        start_time,
    };
    if folders.is_empty() {
        entry.record(process)?;
    } else {
        // Saved with the status below (or with an earlier record): until `go` the process
        // runs nothing of the user's and exits when the creator dies (EOF on `go`), and
        // from `go` on it is in its cgroups (born there on v2, added below on v1), whose
        // removal kills it. Only a process without cgroups must be recorded at once.
        entry.state.resources.push(process);
    }
    crash_point("process");
    if let (Some(userns), Some(w)) = (&plan.userns, mapped_w) {
        super::userns::write_maps(pid, userns)?;
        nix::unistd::write(&w, b"M").map_err(nix_err("release the mapped process"))?;
    }
    if plan.cgroup.version == CgroupVersion::V1 {
        cgroup::add_process(&folders, pid.as_raw())?;
    }
    if let Some(visible) = &plan.visible {
        super::visible::set_affinity(visible, pid)?;
    }
    // The process waits on `go` until its network is complete.
    net::setup(&plan.network, pid, start_time, entry)?;
    if !plan.extra.create_hooks.is_empty() {
        // OCI prestart/createRuntime: the namespaces exist, the process has not gone on.
        let oci = &entry.state.spec["oci"];
        let state = serde_json::json!({
            "ociVersion": "1.2.0",
            "id": entry.state.name,
            "status": "creating",
            "pid": pid.as_raw(),
            "bundle": oci["bundle"],
            "annotations": oci["annotations"],
        });
        super::hooks::run(&plan.extra.create_hooks, &state.to_string())?;
    }
    let mut go = fs::File::from(spawned.go);
    go.write_all(b"G")
        .map_err(sys_err("release the environment's process"))?;
    drop(go);
    crash_point("released");
    let mut answer = String::new();
    fs::File::from(spawned.ready)
        .read_to_string(&mut answer)
        .map_err(sys_err("wait for the environment's process"))?;
    match answer.strip_prefix('E') {
        _ if answer == "R" => {}
        Some(msg) => return Err(RuntimeError::Setup(msg.trim().to_string())),
        None => return Err(RuntimeError::DiedInSetup),
    }
    crash_point("ready");
    // The process sent its terminal's master before `R`.
    let terminal = match terminal {
        None => None,
        Some(sock) => {
            let mut tag = [0u8; 1];
            match stockade_term::fdpass::recv(sock.as_fd(), &mut tag)
                .map_err(sys_err("receive the environment's terminal"))?
            {
                Some((master, _)) => Some(master),
                None => return Err(RuntimeError::DiedInSetup),
            }
        }
    };
    entry.state.status = if opts.start {
        Status::Running
    } else {
        Status::Created
    };
    entry.save()?;
    Ok((pid, spawned.report, terminal))
}

/// The child's streams, what the monitor keeps, and the creator's end of the terminal
/// socket when the creator takes the master.
fn streams(
    opts: &CreateOptions,
    foreground: bool,
) -> Result<(ChildStdio, MonitorOutput, Option<OwnedFd>), RuntimeError> {
    let pair = || -> Result<(OwnedFd, OwnedFd), RuntimeError> {
        let (a, b) = std::os::unix::net::UnixStream::pair()
            .map_err(sys_err("socketpair for the terminal"))?;
        Ok((a.into(), b.into()))
    };
    let log = matches!(opts.stdio, Stdio::Log | Stdio::LogTerminal) && !foreground;
    Ok(match (opts.stdio.terminal(), log) {
        (true, true) => {
            let (child, monitor) = pair()?;
            (
                ChildStdio::Terminal(child),
                MonitorOutput::Terminal(monitor),
                None,
            )
        }
        (true, false) => {
            let (child, creator) = pair()?;
            (
                ChildStdio::Terminal(child),
                MonitorOutput::None,
                Some(creator),
            )
        }
        (false, true) => {
            let (out_r, out) = spawn::pipe().map_err(sys_err("pipe"))?;
            let (err_r, err) = spawn::pipe().map_err(sys_err("pipe"))?;
            (
                ChildStdio::Pipes { out, err },
                MonitorOutput::Pipes {
                    out: out_r,
                    err: err_r,
                },
                None,
            )
        }
        (false, false) if opts.stdio == Stdio::Inherit => {
            (ChildStdio::Inherit, MonitorOutput::None, None)
        }
        (false, false) => (ChildStdio::NullStdin, MonitorOutput::None, None),
    })
}

/// Undoes whatever the record lists (newest first), plus a process not recorded yet.
fn undo(entry: &mut Entry, unrecorded: Option<Pid>, reap: bool) {
    if let Some(pid) = unrecorded {
        let _ = kill(pid, Signal::SIGKILL);
        if reap {
            let _ = waitpid(pid, None);
        }
    }
    let _ = teardown(entry);
}

/// Kills every process and removes every recorded object; tolerates objects never made.
pub fn teardown(entry: &mut Entry) -> Result<(), RuntimeError> {
    let mut first_error = None;
    for resource in entry.state.resources.iter().rev() {
        let result = match resource {
            Resource::Process { pid, start_time } => {
                if proc::is_alive(*pid, *start_time) {
                    let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                }
                Ok(())
            }
            Resource::Cgroup { path } => cgroup::destroy(path).map_err(RuntimeError::from),
            Resource::Dir { path } => match fs::remove_dir(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(sys_err(format!("rmdir {}", path.display()))(e))
                }
                _ => Ok(()),
            },
            Resource::Mount { path } => {
                match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
                    Err(e) if e != nix::errno::Errno::EINVAL && e != nix::errno::Errno::ENOENT => {
                        Err(nix_err(format!("umount {}", path.display()))(e))
                    }
                    _ => Ok(()),
                }
            }
            Resource::Interface { name } => {
                net::delete_host_interface(name).map_err(RuntimeError::from)
            }
            Resource::Firewall { owner, ports } => {
                super::firewall::teardown(owner, ports).map_err(RuntimeError::from)
            }
            Resource::Jail { .. }
            | Resource::RctlRule { .. }
            | Resource::Dataset { .. }
            | Resource::File { .. } => Ok(()),
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Releases a created environment's process (through its exec fifo).
pub fn start(store: &StateStore, name: &str) -> Result<(), RuntimeError> {
    let mut entry = store.open(name, true)?;
    let alive = entry_alive(&entry.state);
    if entry.state.status != Status::Created || !alive {
        return Err(RuntimeError::from(LifecycleError::NotCreated {
            name: name.into(),
            status: status_name(if alive {
                entry.state.status
            } else {
                Status::Stopped
            }),
        }));
    }
    let path = spawn::fifo_path(entry.dir());
    // Non-blocking: the process holds the fifo open for reading, so this succeeds at once;
    // ENXIO would mean nobody waits any more.
    let fifo = nix::fcntl::open(
        &path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(nix_err(format!("{}", path.display())))?;
    nix::unistd::write(&fifo, b"S").map_err(nix_err(format!("{}", path.display())))?;
    drop(fifo);
    let _ = fs::remove_file(&path);
    entry.state.status = Status::Running;
    entry.save()?;
    Ok(())
}

/// Foreground run: create (this process is the parent), wait with signals forwarded,
/// delete.
fn run(
    backend: &LinuxBackend,
    spec: &Spec,
    store: &StateStore,
    fg: Foreground,
) -> Result<Exit, RuntimeError> {
    let relay = Relay::install()?;
    let opts = CreateOptions {
        stdio: if fg.terminal {
            Stdio::Terminal
        } else {
            Stdio::Inherit
        },
        start: true,
    };
    let created = create(backend, spec, store, &opts, true)?;
    let Created {
        entry,
        pid,
        report,
        terminal,
    } = created;
    let folders = cgroup_folders(&entry.state);
    // Other commands (stop, kill, exec) must be able to lock the environment meanwhile.
    drop(entry);
    let session = match terminal.map(stockade_term::relay::Session::start) {
        Some(Err(e)) => {
            kill_all(pid, &folders);
            let _ = waitpid(pid, None);
            let _ = delete(store, &spec.name, true);
            return Err(sys_err("relay the terminal")(e));
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let exit = wait_foreground(pid, &relay, &folders, report);
    // The last output is copied and the caller's modes are back before anything else.
    if let Some(s) = session {
        s.finish();
    }
    let cleanup = delete(store, &spec.name, true);
    let exit = exit?;
    if let Ok(mut e) = store.open(&spec.name, false) {
        e.state.exit = Some(exit.clone());
        let _ = e.save();
    }
    cleanup?;
    Ok(exit)
}

/// Forwards SIGINT, SIGTERM and SIGHUP delivered to stockade to the environment while a
/// foreground run or exec waits.
pub struct Relay {
    read: OwnedFd,
    _write: OwnedFd,
    slot: usize,
}

impl Relay {
    /// Starts relaying.
    pub fn install() -> Result<Relay, RuntimeError> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(nix_err("pipe"))?;
        let slot = sys::relay_signals(write.as_fd(), &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
            .map_err(sys_err("install the signal relay"))?;
        Ok(Relay {
            read,
            _write: write,
            slot,
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        sys::unrelay_signals(self.slot);
    }
}

/// How long a forwarded SIGINT/SIGTERM/SIGHUP may take before everything is SIGKILLed.
const FOREGROUND_GRACE: Duration = Duration::from_secs(10);

/// Waits for `pid` (a child of this process), forwarding relayed signals; a second signal,
/// or the grace time after the first, kills the whole environment.
pub fn wait_foreground(
    pid: Pid,
    relay: &Relay,
    folders: &[PathBuf],
    report: Option<OwnedFd>,
) -> Result<Exit, RuntimeError> {
    let pidfd = sys::pidfd_open(pid).map_err(sys_err(format!("pidfd_open {pid}")))?;
    let mut deadline: Option<Instant> = None;
    loop {
        let timeout = deadline.map_or(nix::poll::PollTimeout::NONE, |d| {
            let ms = d.saturating_duration_since(Instant::now()).as_millis();
            nix::poll::PollTimeout::try_from(ms.min(60_000) as i32)
                .unwrap_or(nix::poll::PollTimeout::MAX)
        });
        let mut fds = [
            nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN),
            nix::poll::PollFd::new(relay.read.as_fd(), nix::poll::PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(nix_err("poll")(e)),
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let signalled = fds[1].revents().is_some_and(|r| !r.is_empty());
        if exited {
            break;
        }
        if signalled {
            let mut buf = [0u8; 16];
            let n = nix::unistd::read(&relay.read, &mut buf).unwrap_or(0);
            for &b in &buf[..n] {
                if deadline.is_some() {
                    kill_all(pid, folders);
                } else if let Ok(sig) = Signal::try_from(b as i32) {
                    let _ = kill(pid, sig);
                    deadline = Some(Instant::now() + FOREGROUND_GRACE);
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            kill_all(pid, folders);
        }
    }
    let status = loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(nix_err(format!("wait for {pid}")))?,
        }
    };
    let reason = report.and_then(spawn::read_report);
    let exit = spawn::exit_of(status, reason).ok_or_else(|| RuntimeError::Sys {
        what: format!("wait for {pid}"),
        source: io::Error::other(format!("unexpected status {status:?}")),
    })?;
    Ok(cgroup::usage::annotate(exit, folders))
}

/// SIGKILLs the first process and everything in the cgroup folders.
pub fn kill_all(pid: Pid, folders: &[PathBuf]) {
    let _ = kill(pid, Signal::SIGKILL);
    for f in folders {
        let _ = cgroup::signal_all(f, Signal::SIGKILL);
    }
}

/// What the environment uses now, from its recorded cgroup folders (see
/// [`cgroup::usage`]). Works while it runs and after it stopped, until `delete`.
fn stats(store: &StateStore, name: &str) -> Result<Stats, RuntimeError> {
    let state = store.peek(name)?;
    Ok(cgroup::usage::read(&cgroup_folders(&state))?)
}

/// The cgroup folders recorded for an environment.
pub fn cgroup_folders(state: &State) -> Vec<PathBuf> {
    state
        .resources
        .iter()
        .filter_map(|r| match r {
            Resource::Cgroup { path } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// Whether the recorded first process still lives (same PID and start time).
pub fn entry_alive(state: &State) -> bool {
    match (state.pid, state.pid_start_time) {
        (Some(pid), Some(t)) => proc::is_alive(pid, t),
        _ => false,
    }
}

fn status_name(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}"))
}

/// The state of a live (created or running) environment, or `NotRunning`.
pub fn live_state(store: &StateStore, name: &str) -> Result<State, RuntimeError> {
    let state = refresh(store, name)?;
    if !matches!(state.status, Status::Running | Status::Created) {
        return Err(RuntimeError::from(LifecycleError::NotRunning {
            name: name.into(),
            status: status_name(state.status),
        }));
    }
    Ok(state)
}

/// Reads the state and corrects its status from the kernel: a recorded process that is
/// gone (or whose PID now belongs to another process) means stopped.
pub fn refresh(store: &StateStore, name: &str) -> Result<State, RuntimeError> {
    let mut state = store.peek(name)?;
    if matches!(state.status, Status::Created | Status::Running) && !entry_alive(&state) {
        // The process is gone; its parent (the monitor, or a foreground `run`) records the
        // exit a moment later. Give it that moment, so `state` never shows a stopped
        // environment without its exit status; mark it stopped ourselves only if nobody
        // records (the parent was killed too).
        if let Some(recorded) = wait_for_exit_record(store, name, EXIT_RECORD_WAIT) {
            return Ok(recorded);
        }
        state = store.peek(name)?;
        if !matches!(state.status, Status::Created | Status::Running) {
            return Ok(state);
        }
        state.status = Status::Stopped;
        if let Ok(mut e) = store.open(name, false) {
            if matches!(e.state.status, Status::Created | Status::Running) {
                e.state.status = Status::Stopped;
                let _ = e.save();
            }
        }
    }
    Ok(state)
}

/// How long `state` and `stop` wait for the parent of a dead process to record its exit.
const EXIT_RECORD_WAIT: Duration = Duration::from_secs(2);

/// Polls the record until it holds an exit (or leaves created/running), up to `timeout`.
fn wait_for_exit_record(store: &StateStore, name: &str, timeout: Duration) -> Option<State> {
    let deadline = Instant::now() + timeout;
    loop {
        match store.peek(name) {
            Ok(s) if s.exit.is_some() || !matches!(s.status, Status::Created | Status::Running) => {
                return Some(s)
            }
            Ok(_) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn stop(store: &StateStore, name: &str, grace: Duration) -> Result<(), RuntimeError> {
    let state = refresh(store, name)?;
    let (Some(pid), Some(t)) = (state.pid, state.pid_start_time) else {
        return Ok(());
    };
    if !proc::is_alive(pid, t) {
        return Ok(());
    }
    let folders = cgroup_folders(&state);
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && proc::is_alive(pid, t) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Whatever is left, the first process or anything it started, goes now.
    let kill_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        kill_all(Pid::from_raw(pid), &folders);
        let left = folders
            .iter()
            .any(|f| cgroup::pids(f).is_ok_and(|p| !p.is_empty()));
        if (!left && !proc::is_alive(pid, t)) || Instant::now() > kill_deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Return once the exit is on record, so `stop` then `state` shows it.
    refresh(store, name)?;
    Ok(())
}

fn delete(store: &StateStore, name: &str, force: bool) -> Result<(), RuntimeError> {
    let mut entry = store.open(name, true)?;
    let alive = entry_alive(&entry.state);
    if alive && !force && entry.state.status == Status::Running {
        return Err(RuntimeError::from(LifecycleError::StillRunning(
            name.into(),
        )));
    }
    teardown(&mut entry)?;
    entry.remove()?;
    Ok(())
}

/// A signal from a name (`TERM`, `SIGTERM`, `term`) or a number (`15`).
pub fn parse_signal(text: &str) -> Result<Signal, RuntimeError> {
    let bad = || RuntimeError::from(LifecycleError::BadSignal(text.into()));
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// Saves the process configuration (`process.json`) that `start` and `exec` read back;
/// create and restore write it.
pub fn write_process_config(
    plan: &crate::plan::LinuxPlan,
    dir: &Path,
) -> Result<ProcessConfig, RuntimeError> {
    let cfg = ProcessConfig::from_plan(plan);
    let cfg_path = dir.join("process.json");
    let json = serde_json::to_vec_pretty(&cfg).map_err(|e| RuntimeError::Sys {
        what: "serialise process.json".into(),
        source: io::Error::other(e),
    })?;
    // Like everything in the state folder: the owner's alone, and never through a link.
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&cfg_path)
        .and_then(|mut f| f.write_all(&json))
        .map_err(sys_err(format!("{}", cfg_path.display())))?;
    Ok(cfg)
}

/// Reads back the process configuration saved at create (`process.json`).
pub fn read_process_config(dir: &Path) -> Result<ProcessConfig, RuntimeError> {
    let path = dir.join("process.json");
    let text = fs::read(&path).map_err(sys_err(format!("{}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| RuntimeError::Sys {
        what: format!("{}", path.display()),
        source: io::Error::other(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::SIGUSR1);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
