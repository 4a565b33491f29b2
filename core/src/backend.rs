//! The interface every OS backend implements, and the host facts it reports.
//!
//! Planning is pure: `plan` turns a [`Spec`] into the ordered kernel operations for one OS,
//! as data that `stockade plan` prints and `apply` executes. Both planners compile on every
//! OS, so `stockade plan --target freebsd` works on Linux and the reverse.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::portability::Target;
use crate::Spec;

/// Which cgroup hierarchy the Linux backend drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupVersion {
    /// cgroup v1: one hierarchy per controller (also on hybrid hosts).
    V1,
    /// cgroup v2: the unified hierarchy.
    V2,
}

impl fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        })
    }
}

/// What a backend found on this host: what it can and cannot do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// The operating system, as `uname -s` would put it in lower case.
    pub os: String,
    /// The kernel release.
    pub release: String,
    /// Linux: the cgroup hierarchy that holds the controllers stockade needs.
    pub cgroup: Option<CgroupVersion>,
    /// Linux: controllers available to stockade (e.g. `memory`, `pids`, `cpu`).
    pub controllers: Vec<String>,
    /// Linux: whether unprivileged user namespaces can be created.
    pub user_namespaces: Option<bool>,
    /// FreeBSD: whether `kern.racct.enable` is on (rctl limits work).
    pub racct: Option<bool>,
    /// FreeBSD: whether the kernel has VIMAGE (vnet jails).
    pub vimage: Option<bool>,
    /// FreeBSD: whether the Linux ABI (`linux64`) is loaded, for Linux roots.
    pub linux_abi: Option<bool>,
}

impl HostInfo {
    /// The portability target this host is.
    pub fn target(&self) -> Option<Target> {
        match (self.os.as_str(), self.cgroup) {
            ("linux", Some(CgroupVersion::V1)) => Some(Target::LinuxCgroupV1),
            ("linux", _) => Some(Target::LinuxCgroupV2),
            ("freebsd", _) => Some(Target::Freebsd),
            _ => None,
        }
    }
}

/// Facts a planner needs beyond the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanContext {
    /// The environment's state folder (e.g. `/run/stockade/web`); planners place
    /// per-environment files (a host-view root, overlay layers) below it.
    pub state_dir: PathBuf,
    /// Linux: the cgroup hierarchy to plan for.
    pub cgroup: CgroupVersion,
}

impl PlanContext {
    /// The context for a state root (e.g. `/run/stockade`) and an environment name.
    pub fn new(state_root: impl Into<PathBuf>, name: &str, cgroup: CgroupVersion) -> Self {
        PlanContext {
            state_dir: state_root.into().join(name),
            cgroup,
        }
    }
}

/// One OS backend.
pub trait Backend {
    /// The ordered kernel operations for one spec on this OS.
    type Plan: Serialize + fmt::Display;
    /// What can go wrong in this backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reports what this host can do.
    fn probe(&self) -> Result<HostInfo, Self::Error>;

    /// Turns a validated spec into this OS's plan. Pure: touches nothing.
    fn plan(&self, spec: &Spec, ctx: &PlanContext) -> Result<Self::Plan, Self::Error>;
}

/// What an environment uses now, the same figures on every OS (`stockade stats`). A figure
/// the host cannot give is `None`; a limit that is not set is `None` too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Stats {
    /// Memory in use, in bytes (Linux: cgroup memory, page cache included; FreeBSD:
    /// resident memory).
    pub memory_current: Option<u64>,
    /// The most memory in use at once since the environment was created, in bytes.
    pub memory_peak: Option<u64>,
    /// The memory limit in force, in bytes (`limits.memory`).
    pub memory_limit: Option<u64>,
    /// CPU time used by all its processes, in microseconds.
    pub cpu_usec: Option<u64>,
    /// Processes (Linux: tasks) in it now.
    pub pids_current: Option<u64>,
    /// The process limit in force (`limits.processes`).
    pub pids_limit: Option<u64>,
}

/// One process of an environment, as the host sees it (`stockade top`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProcessInfo {
    /// Host PID.
    pub pid: i32,
    /// Host PID of its parent.
    pub ppid: i32,
    /// Real uid, as the host numbers it.
    pub uid: u32,
    /// The kernel's one-letter state (R running, S sleeping, Z zombie, ...).
    pub state: String,
    /// Resident memory, in bytes.
    pub rss_bytes: Option<u64>,
    /// CPU time used (user + system), in microseconds.
    pub cpu_usec: Option<u64>,
    /// Its command line (the command name in brackets when it has none).
    pub command: String,
}

/// How `create` connects the environment's standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// The caller's stdin, stdout and stderr (foreground `run`, `exec`).
    #[default]
    Inherit,
    /// stdin from /dev/null, stdout and stderr to the caller's, as runc's pass-through
    /// mode does (an OCI runtime caller such as conmon hands its own pipes).
    Detached,
    /// stdin from /dev/null, stdout and stderr to the environment's log in its state
    /// folder (`create`, `run -d`): the caller's descriptors are never kept, so
    /// `x=$(stockade create ...)` returns at once. `stockade logs` reads it.
    Log,
    /// A pseudo-terminal opened inside the environment (`run -t`, an OCI
    /// `process.terminal`); its master is handed to the caller in [`Created::terminal`].
    Terminal,
    /// A pseudo-terminal whose master the monitor keeps (`create -t`, `run -d -t`): it
    /// logs the output as [`Stdio::Log`] does and serves `stockade attach`.
    LogTerminal,
}

impl Stdio {
    /// Whether the process gets a pseudo-terminal.
    pub fn terminal(self) -> bool {
        matches!(self, Stdio::Terminal | Stdio::LogTerminal)
    }
}

/// Options of `create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Where the streams go.
    pub stdio: Stdio,
    /// Start at once instead of waiting for `start`.
    pub start: bool,
}

/// What `create` made.
#[derive(Debug)]
pub struct Created {
    /// The environment's state, as recorded.
    pub state: crate::state::State,
    /// The master side of the process's terminal with [`Stdio::Terminal`].
    pub terminal: Option<std::os::fd::OwnedFd>,
}

/// Options of a foreground `run` or `exec`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Foreground {
    /// Give the process a pseudo-terminal and relay the caller's terminal to it (raw
    /// mode, window size, both ways); the caller's modes are restored on every exit.
    pub terminal: bool,
}

/// The lifecycle of environments on one OS: what `stockade run`, `create`, `start`,
/// `exec`, `kill`, `stop`, `delete`, `state` and `list` do. Every method works on the
/// state store, so any command can pick up where another (or a crashed one) left off.
pub trait Runtime: Backend {
    /// Makes the environment (every kernel object, recorded in the store), leaving its
    /// process waiting for `start` unless `opts.start`. On failure, undoes everything made.
    /// A monitor process waits for the environment and records its exit.
    fn create_made(
        &self,
        spec: &Spec,
        store: &crate::state::StateStore,
        opts: &CreateOptions,
    ) -> Result<Created, Self::Error>;

    /// [`Runtime::create_made`] for callers that need the state only.
    fn create(
        &self,
        spec: &Spec,
        store: &crate::state::StateStore,
        opts: &CreateOptions,
    ) -> Result<crate::state::State, Self::Error> {
        self.create_made(spec, store, opts).map(|c| c.state)
    }

    /// Lets a created environment's process exec its command.
    fn start(&self, store: &crate::state::StateStore, name: &str) -> Result<(), Self::Error>;

    /// Foreground run: create, start, forward signals (relay the terminal with
    /// `fg.terminal`), wait, delete. Returns how the process ended.
    fn run_with(
        &self,
        spec: &Spec,
        store: &crate::state::StateStore,
        fg: Foreground,
    ) -> Result<crate::state::Exit, Self::Error>;

    /// [`Runtime::run_with`] with the caller's stdio passed through.
    fn run(
        &self,
        spec: &Spec,
        store: &crate::state::StateStore,
    ) -> Result<crate::state::Exit, Self::Error> {
        self.run_with(spec, store, Foreground::default())
    }

    /// Runs a command inside a running environment, in the foreground, with the same
    /// namespaces, limits and privileges (and a terminal with `fg.terminal`); returns how
    /// it ended.
    fn exec_with(
        &self,
        store: &crate::state::StateStore,
        name: &str,
        command: &[String],
        fg: Foreground,
    ) -> Result<crate::state::Exit, Self::Error>;

    /// [`Runtime::exec_with`] with the caller's stdio passed through.
    fn exec(
        &self,
        store: &crate::state::StateStore,
        name: &str,
        command: &[String],
    ) -> Result<crate::state::Exit, Self::Error> {
        self.exec_with(store, name, command, Foreground::default())
    }

    /// Sends a signal (a name like `TERM`/`SIGTERM` or a number) to the environment's
    /// first process.
    fn signal(
        &self,
        store: &crate::state::StateStore,
        name: &str,
        signal: &str,
    ) -> Result<(), Self::Error>;

    /// SIGTERM, then SIGKILL to every process of the environment after `grace`.
    fn stop(
        &self,
        store: &crate::state::StateStore,
        name: &str,
        grace: std::time::Duration,
    ) -> Result<(), Self::Error>;

    /// Removes a stopped environment and every kernel object recorded for it; with
    /// `force`, kills it first and tolerates objects already gone (a crashed create).
    fn delete(
        &self,
        store: &crate::state::StateStore,
        name: &str,
        force: bool,
    ) -> Result<(), Self::Error>;

    /// The environment's processes now, as the host sees them, by PID.
    fn processes(
        &self,
        store: &crate::state::StateStore,
        name: &str,
    ) -> Result<Vec<ProcessInfo>, Self::Error>;

    /// What the environment uses now (memory, CPU time, processes) and its limits.
    fn stats(&self, store: &crate::state::StateStore, name: &str) -> Result<Stats, Self::Error>;

    /// The environment's state, with its status refreshed from the kernel.
    fn state(
        &self,
        store: &crate::state::StateStore,
        name: &str,
    ) -> Result<crate::state::State, Self::Error>;
}
